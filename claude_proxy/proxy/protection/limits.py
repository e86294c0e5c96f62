"""Limits that keep the proxy answering under load: body size and pace, concurrency.

``ConcurrencyGate`` caps the requests in flight to the upstream. A request over
the cap waits in a short queue (``limits.queue_size``, ``limits.queue_timeout``);
beyond that it gets 529 ``overloaded_error`` at once, the answer Anthropic itself
gives, which every SDK already retries, instead of hanging.

``read_body`` reads a request body with a size cap (413) and a deadline for the
whole body (408), so a client trickling bytes cannot hold a connection forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from typing import TYPE_CHECKING, AsyncIterator

from claude_proxy.proxy.errors import ProxyError

if TYPE_CHECKING:
    from aiohttp import web

    from claude_proxy.settings import LimitsSettings

OVERLOAD_RETRY_AFTER = 1


class ConcurrencyGate:
    """At most ``limit`` holders at once, at most ``queue_size`` waiting; 0 means no cap."""

    def __init__(self, limit: int, queue_size: int = 0, queue_timeout: float = 10.0) -> None:
        self.limit = limit
        self.queue_size = queue_size
        self.queue_timeout = queue_timeout
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @classmethod
    def from_settings(cls, limits: LimitsSettings) -> ConcurrencyGate:
        return cls(limits.max_concurrent, limits.queue_size, limits.queue_timeout)

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def _overloaded(self, why: str) -> ProxyError:
        return ProxyError(529, f"the proxy is overloaded ({why}); retry shortly",
                          headers={"retry-after": str(OVERLOAD_RETRY_AFTER)})

    async def acquire(self) -> None:
        """Take a slot, queueing briefly; raise 529 when the queue is full or too slow."""
        if not self.limit or (self.active < self.limit and not self._waiters):
            self.active += 1
            return
        if len(self._waiters) >= self.queue_size:
            raise self._overloaded(f"{self.active} requests in flight, {len(self._waiters)} queued")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.queue_timeout)
        except asyncio.TimeoutError:
            if not waiter.done():
                self._waiters.remove(waiter)
                waiter.cancel()
                raise self._overloaded(f"no slot freed within {self.queue_timeout:g}s") from None
            # the slot was handed over just as the wait ran out: keep it
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot we no longer want
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Free a slot, handing it straight to the oldest waiter if there is one."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on; active stays the same
                return
        self.active -= 1

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()


async def read_body(request: "web.Request", max_size: int, timeout: float) -> bytes:
    """The whole request body, or 413 when too large, 408 when it does not arrive in time, 400 when
    it cannot be decoded (a Content-Encoding it does not match, broken chunked framing).

    Read with ``request.read()`` so the body stays cached on the request for the
    handler; the app's ``client_max_size`` should equal ``max_size``.
    """
    from aiohttp import web
    from aiohttp.web_protocol import RequestPayloadError

    declared = request.content_length
    if declared is not None and declared > max_size:
        raise ProxyError(413, f"request body of {declared} bytes is over the limit of {max_size} bytes")
    try:
        if request.content.is_eof():  # all here already (the usual small request): no timer needed
            body = await request.read()
        else:
            body = await asyncio.wait_for(request.read(), timeout)
    except asyncio.TimeoutError:
        raise ProxyError(408, f"request body not received within {math.ceil(timeout)}s") from None
    except web.HTTPRequestEntityTooLarge:
        raise ProxyError(413, f"request body is over the limit of {max_size} bytes") from None
    except RequestPayloadError as exc:  # a body its Content-Encoding or chunked framing does not match
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        # The connection cannot carry another request after a body it could not frame: say it closes,
        # and mark the body read so the server does not read it again to log the same error.
        request.content.feed_eof()
        raise ProxyError(400, f"request body could not be read: {lines[-1] if lines else 'malformed'}",
                         headers={"Connection": "close"}) from None
    if len(body) > max_size:
        raise ProxyError(413, f"request body is over the limit of {max_size} bytes")
    return body
