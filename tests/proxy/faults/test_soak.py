"""Soak: 20,000+ mixed requests through a real ``claude-proxy serve``, then look for leaks.

Outside the default run (``-m soak``). The upstream runs in its own process so the
client, the proxy and the upstream do not share a GIL. Every request has a known
right answer: a request that should have succeeded must succeed (retried 529s
included), the errors must be the upstream's own. After a warm-up the proxy's
open file descriptors, sockets and RSS are sampled; at the end they must be back
where they were (fds and sockets within a small slack, RSS within 15%), and the
request log must hold one row per request after SIGTERM. ``SOAK_REQUESTS`` sets the
count (default 20,000).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from tests.proxy.faults.conftest import child_env, start_serve

pytestmark = pytest.mark.processes

TOTAL = int(os.environ.get("SOAK_REQUESTS", "20000"))
SKIP = set(filter(None, os.environ.get("SOAK_SKIP", "").split(",")))
WARMUP = TOTAL // 10
CONCURRENCY = 32
REPO = Path(__file__).resolve().parents[3]

# kind -> (weight, x-fault header, stream, expected status, expect a complete answer)
MIX = {
    "stream": (45, "ok", True, 200, True),
    "plain": (30, "ok", False, 200, True),
    "retried-529": (10, "529x2", True, 200, True),
    "bad-request": (5, "status:400", False, 400, False),
    "overloaded": (3, "529-forever", False, 529, False),
    "reset-mid": (3, "reset-mid", True, 200, False),
    "client-gone": (4, "ok", True, None, False),
}


def _proc_stats(pid: int) -> dict[str, int]:
    fds = os.listdir(f"/proc/{pid}/fd")
    sockets = 0
    for fd in fds:
        try:
            sockets += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except FileNotFoundError:  # closed since the listing
            continue
    rss = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))
    return {"fds": len(fds), "sockets": sockets, "rss_kb": rss}


def _settled(pid: int, sockets: int, timeout: float = 30.0) -> dict[str, int]:
    """Stats once idle keep-alive connections have closed (back to ``sockets``), or after ``timeout``."""
    deadline = time.monotonic() + timeout
    stats = _proc_stats(pid)
    while stats["sockets"] > sockets and time.monotonic() < deadline:
        time.sleep(0.5)
        stats = _proc_stats(pid)
    return stats


def _start_upstream(work: Path) -> tuple[subprocess.Popen, str]:
    env = dict(child_env(work / "home"), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.faulty_upstream", "--port", "0"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    match = re.search(r"listening on (\S+)", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"faulty upstream did not start: {line!r}")
    return proc, match.group(1)


async def _one(sessions: tuple[aiohttp.ClientSession, aiohttp.ClientSession], url: str, kind: str, n: int,
               tally: Counter, wrong: list) -> None:
    _, fault, stream, want_status, complete = MIX[kind]
    # The proxy closes the connection after a mid-stream error frame, once the chunked body has
    # ended: a pooled client could not know, and would race to reuse it. Those go on their own.
    session = sessions[1] if kind == "reset-mid" else sessions[0]
    body = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body["stream"] = True
    headers = {"x-fault": fault, "x-fault-id": f"soak-{n}"}
    try:
        async with session.post(url + "/v1/messages", json=body, headers=headers) as resp:
            if kind == "client-gone":
                await resp.content.readany()
                resp.close()
                tally["client-gone"] += 1
                return
            data = await resp.read()
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        wrong.append((kind, n, repr(exc)))
        return
    ok = resp.status == want_status
    if complete and ok:
        ok = data.rstrip().endswith(b'"message_stop"}') if stream else b'"type": "message"' in data \
            or b'"type":"message"' in data
    if kind == "reset-mid":
        ok = ok and b"event: error" in data
    if ok:
        tally[kind] += 1
    else:
        wrong.append((kind, n, resp.status, data[:200]))


async def _drive(url: str, kinds: list[str], start: int) -> tuple[Counter, list]:
    tally: Counter = Counter()
    wrong: list = []
    queue: asyncio.Queue = asyncio.Queue()
    for i, kind in enumerate(kinds):
        queue.put_nowait((start + i, kind))
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as s, \
            aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(force_close=True)) as once:
        async def worker() -> None:
            while not queue.empty():
                n, kind = queue.get_nowait()
                await _one((s, once), url, kind, n, tally, wrong)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return tally, wrong


@pytest.mark.soak
def test_soak_mixed_traffic_without_leaks(tmp_path):
    upstream, upstream_url = _start_upstream(tmp_path)
    config = {
        "upstream": {"base_url": upstream_url, "retries": 2, "retry_backoff": 0.001, "retry_backoff_max": 0.01},
        "server": {"log_level": "error"},
        "limits": {"max_concurrent": 64, "queue_size": 64},
    }
    served = start_serve([sys.executable, "-m", "claude_proxy"], child_env(tmp_path / "home"), tmp_path, config)
    try:
        rng = random.Random(7)
        names = [k for k in MIX if k not in SKIP]
        weights = [MIX[k][0] for k in names]
        kinds = rng.choices(names, weights, k=TOTAL)
        idle = _proc_stats(served.proc.pid)
        tally, wrong = asyncio.run(_drive(served.url, kinds[:WARMUP], 0))
        warm = _settled(served.proc.pid, idle["sockets"])
        more, wrong_more = asyncio.run(_drive(served.url, kinds[WARMUP:], WARMUP))
        tally.update(more)
        wrong.extend(wrong_more)
        end = _settled(served.proc.pid, idle["sockets"])
        metrics = served.metrics()
        code = served.terminate()
    finally:
        upstream.kill()
        upstream.wait()
    print(f"\nsoak: {sum(tally.values())} right answers of {TOTAL}: {dict(tally)}; "
          f"idle {idle}; warm {warm}; end {end}")
    assert not wrong, wrong[:5]
    assert sum(tally.values()) == TOTAL
    assert code == 0
    assert "Traceback" not in served.stderr()
    # idle keep-alive connections expire (the upstream pool's after 15 s): at rest, nothing may remain
    assert end["sockets"] <= idle["sockets"], (idle, warm, end)
    assert end["fds"] <= warm["fds"], (idle, warm, end)
    assert end["rss_kb"] <= warm["rss_kb"] * 1.15, (warm, end)
    assert "claude_proxy_requests_in_flight 0.0" in metrics
    with sqlite3.connect(served.db) as conn:  # the log drained on SIGTERM: one row per request
        assert conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == TOTAL
