"""Load generators for non-streamed POSTs: wrk with a Lua script, or an asyncio fallback.

Both return the same `LoadResult`, so the report does not care which one ran.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import payloads

LUA = Path(__file__).with_name("post.lua")


@dataclass
class LoadResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    tool: str
    cpu_s: float | None = None  # CPU the measured process tree used during the run

    @property
    def cpu_us_per_request(self) -> float | None:
        return self.cpu_s / self.requests * 1e6 if self.cpu_s is not None and self.requests else None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "rps": round(self.rps, 1), "cpu_us_per_request": self.cpu_us_per_request}


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, body_path: Path, *, connections: int, seconds: float, threads: int = 1) -> LoadResult:
    """One wrk run against `url` (POST /v1/messages); raises RuntimeError if wrk prints no figures."""
    env = {**os.environ, "BENCH_BODY": str(body_path), "BENCH_API_KEY": payloads.API_KEY}
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s",
            "-s", str(LUA), url.rstrip("/") + "/v1/messages"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures: {out.stdout[-500:]} {out.stderr[-500:]}")
    d = json.loads(line[len("BENCH_JSON "):])
    errors = sum(d[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    return LoadResult(d["requests"], d["duration_us"] / 1e6, errors, d["p50_us"] / 1000, d["p90_us"] / 1000,
                      d["p99_us"] / 1000, d["max_us"] / 1000, "wrk")


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def _python_load(url: str, body: bytes, connections: int, seconds: float) -> LoadResult:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    target = url.rstrip("/") + "/v1/messages"
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=payloads.HEADERS) as session:
        start = time.perf_counter()
        stop_at = start + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    async with session.post(target, data=body) as resp:
                        await resp.read()
                        if resp.status >= 400:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    ms = [x * 1000 for x in latencies]
    return LoadResult(len(ms), elapsed, errors, _percentile(ms, 50), _percentile(ms, 90), _percentile(ms, 99),
                      ms[-1] if ms else 0.0, "python")


def run_python(url: str, body: bytes, *, connections: int, seconds: float) -> LoadResult:
    """The fallback load generator (itself CPU-bound: it reports a lower ceiling than wrk)."""
    from bench.loops import run

    return run(_python_load(url, body, connections, seconds))
