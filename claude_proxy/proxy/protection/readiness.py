"""Readiness: can this proxy serve a request right now?

``/health`` says the process is alive (``degraded`` when the request log is in
trouble); ``/health/ready`` says whether it can serve: the upstream accepts TCP
connections and the process is not shutting down, and answers 503 otherwise so a
load balancer stops sending traffic. Request-log trouble is reported there but makes
it 503 only with ``log.required: true``, for those who must not serve unlogged.
The upstream probe is a plain TCP connect (no request, no key spent), cached for a
few seconds so probes cannot become a load of their own.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable
from urllib.parse import urlsplit

PROBE_TTL = 5.0


class UpstreamProbe:
    """Cached TCP reachability of one upstream URL."""

    def __init__(self, base_url: str, timeout: float = 2.0, ttl: float = PROBE_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.timeout = timeout
        self.ttl = ttl
        self._clock = clock
        self._checked_at: float | None = None
        self._result: tuple[bool, str] = (False, "not checked")
        self._lock = asyncio.Lock()

    async def check(self) -> tuple[bool, str]:
        """``(reachable, detail)``; at most one real probe per ``ttl`` seconds."""
        async with self._lock:
            now = self._clock()
            if self._checked_at is not None and now - self._checked_at < self.ttl:
                return self._result
            self._result = await self._connect()
            self._checked_at = self._clock()
            return self._result

    async def _connect(self) -> tuple[bool, str]:
        where = f"{self.host}:{self.port}"
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)
        except asyncio.TimeoutError:
            return False, f"{where}: no answer within {self.timeout:g}s"
        except OSError as exc:
            return False, f"{where}: {exc.strerror or exc}"
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return True, where


async def readiness(probes: list[UpstreamProbe], log_healthy: bool, log_queue: int,
                    in_flight: int, queued: int, stopping: bool = False,
                    log_required: bool = False) -> tuple[int, dict[str, Any]]:
    """The ``/health/ready`` status code and JSON body."""
    results = await asyncio.gather(*(p.check() for p in probes))
    upstreams = [{"upstream": detail, "reachable": ok} for ok, detail in results]
    problems = [f"upstream {d['upstream']} unreachable" for d in upstreams if not d["reachable"]]
    if stopping:
        problems.insert(0, "shutting down: finishing in-flight requests")
    if not log_healthy and log_required:
        problems.append("request log writer is not healthy (log.required is on)")
    body: dict[str, Any] = {
        "status": "ready" if not problems else "not_ready",
        "upstreams": upstreams,
        "log": {"healthy": log_healthy, "required": log_required, "queue_depth": log_queue},
        "requests": {"in_flight": in_flight, "queued": queued},
    }
    if problems:
        body["problems"] = problems
    return (200 if not problems else 503), body
