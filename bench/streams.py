"""Streaming clients: per-event delay and coalescing, and many long streams held open.

Each read is timestamped the moment aiohttp hands it over; every complete SSE event
in it that carries an upstream stamp gives one delay sample (read time - stamp).
Two stamped events completed by the same read were sent at least `interval` apart
upstream, so something on the way held one back: that is counted as coalescing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Callable

from bench import payloads


@dataclass
class StreamStats:
    streams: int = 0
    errors: int = 0
    events: int = 0
    coalesced: int = 0
    ttfb_ms: list[float] = field(default_factory=list)
    delay_ms: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    def merge(self, other: "StreamStats") -> None:
        self.streams += other.streams
        self.errors += other.errors
        self.events += other.events
        self.coalesced += other.coalesced
        self.ttfb_ms += other.ttfb_ms
        self.delay_ms += other.delay_ms
        self.error_samples += other.error_samples[: max(0, 5 - len(self.error_samples))]


def _session(limit: int = 0):
    import aiohttp

    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit), headers=payloads.HEADERS,
                                 auto_decompress=False, timeout=aiohttp.ClientTimeout(total=120))


async def _one_stream(session, url: str, body: bytes, stats: StreamStats, expect_events: int) -> None:
    import aiohttp

    stamp = payloads.STAMP
    t0 = time.monotonic_ns()
    first: int | None = None
    seen = 0
    buf = b""
    try:
        async with session.post(url, data=body) as resp:
            if resp.status != 200:
                stats.errors += 1
                stats.error_samples.append(f"status {resp.status}: {(await resp.read())[:200]!r}")
                return
            async for chunk in resp.content.iter_any():
                now = time.monotonic_ns()
                if first is None:
                    first = now
                buf += chunk
                if b"\n\n" not in buf:
                    continue
                *events, buf = buf.split(b"\n\n")
                in_this_read = 0
                for event in events:
                    match = stamp.search(event)
                    if match:
                        stats.delay_ms.append((now - int(match.group(1))) / 1e6)
                        in_this_read += 1
                seen += in_this_read
                stats.coalesced += max(0, in_this_read - 1)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        stats.errors += 1
        stats.error_samples.append(f"{type(exc).__name__}: {exc}")
        return
    stats.streams += 1
    stats.events += seen
    if first is not None:
        stats.ttfb_ms.append((first - t0) / 1e6)
    if seen != expect_events:
        stats.errors += 1
        stats.error_samples.append(f"stream carried {seen} stamped events, expected {expect_events}")


async def _measure(url: str, body: bytes, concurrency: int, expect_events: int) -> StreamStats:
    stats = StreamStats()
    target = url.rstrip("/") + "/v1/messages"
    async with _session() as session:
        await asyncio.gather(*(_one_stream(session, target, body, stats, expect_events)
                               for _ in range(concurrency)))
    return stats


def measure(url: str, *, concurrency: int, expect_events: int, model: str = "claude-sonnet-4-5") -> StreamStats:
    """Run `concurrency` streams at once through `url` and collect per-event figures."""
    from bench.loops import run

    return run(_measure(url, payloads.request_body(True, model), concurrency, expect_events))


@dataclass
class HoldStats:
    streams: int
    completed: int = 0
    errors: int = 0
    peak_open: int = 0
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (seconds, open streams, rss bytes)
    error_samples: list[str] = field(default_factory=list)


async def _hold(url: str, n: int, expect_events: int, rss: Callable[[], int], every: float) -> HoldStats:
    import aiohttp

    stats = HoldStats(streams=n)
    body = payloads.request_body(True)
    target = url.rstrip("/") + "/v1/messages"
    open_now = 0

    async def one(session) -> None:
        nonlocal open_now
        opened = False
        seen = 0
        buf = b""
        last = b""
        try:
            async with session.post(target, data=body) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"status {resp.status}")
                async for chunk in resp.content.iter_any():
                    if not opened:
                        opened = True
                        open_now += 1
                        stats.peak_open = max(stats.peak_open, open_now)
                    buf += chunk
                    if b"\n\n" in buf:
                        *events, buf = buf.split(b"\n\n")
                        seen += sum(1 for e in events if b"text_delta" in e)
                        last = events[-1]
            if seen != expect_events or b"message_stop" not in last:
                raise RuntimeError(f"incomplete stream: {seen}/{expect_events} events")
            stats.completed += 1
        except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError) as exc:
            stats.errors += 1
            if len(stats.error_samples) < 5:
                stats.error_samples.append(f"{type(exc).__name__}: {exc}")
        finally:
            if opened:
                open_now -= 1

    async with _session() as session:
        tasks = [asyncio.ensure_future(one(session)) for _ in range(n)]
        start = time.monotonic()
        while not all(t.done() for t in tasks):
            stats.samples.append((round(time.monotonic() - start, 2), open_now, rss()))
            await asyncio.wait(tasks, timeout=every)
        await asyncio.gather(*tasks)
    return stats


def hold(url: str, *, streams: int, expect_events: int, rss: Callable[[], int], every: float = 0.5) -> HoldStats:
    """Open `streams` streams at once, sampling the proxy's RSS every `every` seconds until they end."""
    from bench.loops import run

    return run(_hold(url, streams, expect_events, rss, every))
