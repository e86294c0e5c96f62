"""Client connections: how long they may idle, how many may be open, and who goes first.

Anchored on nginx's defaults: a connection must send its first request head within
``server.header_timeout`` (60 s, ``client_header_timeout``), and one idle between
requests is closed after ``server.keepalive_timeout`` (75 s, aiohttp's own timer,
set from the settings); the body has ``limits.body_timeout``. At most
``server.max_connections`` client connections are open at once (0: half of what the
file-descriptor limit leaves after a small reserve, since every client connection may
need an upstream one). When a new connection would pass the cap, the oldest
connection that never sent a request is closed to make room, so a crowd of idle
sockets cannot lock real clients out; if every connection is busy, the new one is
closed instead.

At start the process raises its own ``RLIMIT_NOFILE`` soft limit to the hard limit
(`raise_fd_limit`), so the cap is as high as the system allows.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any, Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FD_RESERVE = 64  # the listening socket, the log's pipes, the upstream probe, files: never handed to clients
MIN_CONNECTIONS = 16
EVICT_IDLE_SECONDS = 1.0  # a keep-alive connection this long between requests may make room for a new one


def raise_fd_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; the soft limit now in force (0: unknown)."""
    try:
        import resource
    except ImportError:  # not a POSIX system
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.debug("cannot raise RLIMIT_NOFILE from %d to %d: %s", soft, target, exc)
    return int(soft) if soft != resource.RLIM_INFINITY else 1 << 20


def connection_cap(configured: int, fd_limit: int) -> int:
    """The client connection cap: the setting, or (0) what the descriptor limit can carry."""
    if configured > 0:
        return configured
    if fd_limit <= 0:
        return 1 << 20
    return max(MIN_CONNECTIONS, (fd_limit - FD_RESERVE) // 2)


class _Conn:
    __slots__ = ("transport", "requested", "active", "idle_since", "timer")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.requested = False
        self.active = 0  # requests being answered on it now
        self.idle_since = 0.0
        self.timer: asyncio.TimerHandle | None = None


class ConnectionGuard:
    """Tracks the client connections of one server: the header deadline, the cap, evictions."""

    def __init__(self, *, header_timeout: float, max_connections: int, keepalive_timeout: float = 75.0) -> None:
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self.between_requests = keepalive_timeout + header_timeout
        self.evicted = 0
        self.refused = 0
        self.timed_out = 0
        self._conns: collections.OrderedDict[asyncio.Transport, _Conn] = collections.OrderedDict()

    @property
    def open(self) -> int:
        return len(self._conns)

    def attach(self, server: web.Server) -> None:
        """Hook the aiohttp server's connection callbacks (called by every request handler)."""
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            made(handler, transport)
            self._made(transport)

        def connection_lost(handler: Any, exc: BaseException | None) -> None:
            transport = handler.transport
            lost(handler, exc)
            if transport is not None:
                self._lost(transport)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign, assignment]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """A request head arrived: the connection has shown it is a client, not an idle socket."""
        transport = request.transport
        conn = self._conns.get(transport) if transport is not None else None
        if conn is None:
            return await handler(request)
        conn.requested = True
        conn.active += 1
        try:
            return await handler(request)
        finally:
            conn.active -= 1
            if conn.active == 0 and transport in self._conns and self.header_timeout > 0:
                loop = asyncio.get_running_loop()
                conn.idle_since = loop.time()
                if conn.timer is None:  # a timer already set checks idle_since when it fires
                    conn.timer = loop.call_later(self.between_requests, self._no_request, conn)

    def _made(self, transport: asyncio.Transport) -> None:
        conn = _Conn(transport)
        if len(self._conns) >= self.max_connections and not self._evict_one():
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                log.warning("client connection cap (%d) reached with every connection busy; "
                            "%d new connections closed so far", self.max_connections, self.refused)
            transport.abort()
            return
        self._conns[transport] = conn
        if self.header_timeout > 0:
            conn.timer = asyncio.get_running_loop().call_later(self.header_timeout, self._no_request, conn)

    def _evict_one(self) -> bool:
        """Make room: the oldest connection that never sent a request, else the longest-idle keep-alive one."""
        victim = next((c for c in self._conns.values() if not c.requested), None)
        if victim is None:
            now = asyncio.get_running_loop().time()
            idle = [c for c in self._conns.values() if c.active == 0 and now - c.idle_since >= EVICT_IDLE_SECONDS]
            victim = min(idle, key=lambda c: c.idle_since, default=None)
        if victim is None:
            return False
        self._forget(victim.transport)
        victim.transport.abort()
        self.evicted += 1
        if self.evicted == 1 or self.evicted % 1000 == 0:
            log.warning("client connection cap (%d) reached: closed %d connections that never sent a request "
                        "or were idle between requests", self.max_connections, self.evicted)
        return True

    def _no_request(self, conn: _Conn) -> None:
        """A connection's one timer: it is not re-armed per request (a timer per request costs more than
        the request's own work), so it checks here whether the deadline it stood for still holds."""
        conn.timer = None
        if conn.active or conn.transport not in self._conns:
            return  # a request is being answered; the timer is set again when it ends
        if conn.requested:
            loop = asyncio.get_running_loop()
            left = conn.idle_since + self.between_requests - loop.time()
            if left > 0:
                conn.timer = loop.call_later(left, self._no_request, conn)
                return
        self.timed_out += 1
        self._forget(conn.transport)
        conn.transport.abort()

    def _lost(self, transport: asyncio.Transport) -> None:
        self._forget(transport)

    def _forget(self, transport: asyncio.Transport) -> None:
        conn = self._conns.pop(transport, None)
        if conn is not None and conn.timer is not None:
            conn.timer.cancel()


class _BadRequestLine(logging.Filter):
    """aiohttp logs a request it cannot parse with a traceback; a client's mistake is one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = f"{record.getMessage()}: bad request ({exc.message!r})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def quiet_bad_requests() -> None:
    """Install the one-line filter on aiohttp's server logger (once per process)."""
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _BadRequestLine) for f in server_log.filters):
        server_log.addFilter(_BadRequestLine())
