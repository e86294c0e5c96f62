"""Keep-alive connections to one upstream origin: reuse, limits, and the one safe resend."""

from __future__ import annotations

import asyncio
import collections
import ssl
from typing import Any, Iterable

from yarl import URL

from claude_proxy.proxy.upstream.http1.connection import _Connection
from claude_proxy.proxy.upstream.http1.errors import (
    CertificateError,
    ConnectError,
    ConnectTimeout,
    Disconnected,
    ResponseTimeout,
)
from claude_proxy.proxy.upstream.http1.response import Response

# Idle connections older than this are closed rather than reused (servers drop them around 60 s).
KEEPALIVE_SECONDS = 15.0
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class ConnectionPool:
    """Keep-alive connections to one ``scheme://host:port``, at most ``limit`` open at once."""

    def __init__(self, url: URL, *, connect_timeout: float, read_timeout: float, limit: int,
                 tls: ssl.SSLContext | None = None, keepalive: float = KEEPALIVE_SECONDS) -> None:
        self.url = url
        self.host = url.host or ""
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.tls = tls if url.scheme == "https" else None
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.limit = limit if limit > 0 else 1 << 30
        self.keepalive = keepalive
        self.loop = asyncio.get_running_loop()
        default_port = (url.scheme == "https" and self.port == 443) or (url.scheme == "http" and self.port == 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._host_line = f"\r\nHost: {host if default_port else f'{host}:{self.port}'}\r\n"
        self._idle: collections.deque[_Connection] = collections.deque()
        self._open: set[_Connection] = set()
        self._slot_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False

    def head(self, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes) -> bytes:
        """The request line and headers, as bytes; refuses a CR or LF inside any of them."""
        lines = [f"{k}: {v}\r\n" for k, v in headers]
        if body or method in _BODY_METHODS:
            lines.append(f"Content-Length: {len(body)}\r\n")
        text = f"{method} {target} HTTP/1.1{self._host_line}{''.join(lines)}\r\n"
        if text.count("\n") != len(lines) + 3 or text.count("\r") != len(lines) + 3:
            raise ValueError("a header name or value, or the request target, contains a line break")
        return text.encode("utf-8", "surrogateescape")

    async def request(self, method: str, target: str, headers: Iterable[tuple[str, str]],
                      body: bytes) -> Response:
        """Send one request and wait for the response head; the caller reads, then releases or closes."""
        head = self.head(method, target, headers, body)
        conn, reused = await self._acquire()
        try:
            return await self._exchange(conn, method, head, body)
        except Disconnected:
            if not reused or conn.received:
                raise
        # A kept-alive connection the upstream closed just as the request went out: it never
        # read the request, so sending it once more, on a new connection, is safe.
        conn, _ = await self._acquire(fresh=True)
        return await self._exchange(conn, method, head, body)

    async def _exchange(self, conn: _Connection, method: str, head: bytes, body: bytes) -> Response:
        waiter = conn.send(method, head, body)
        timer = self.loop.call_later(self.read_timeout, _head_timeout, waiter)
        try:
            return await waiter
        except BaseException:  # cancelled (the client left), timed out or failed: the connection is spent
            conn.close()
            raise
        finally:
            timer.cancel()

    async def _acquire(self, fresh: bool = False) -> tuple[_Connection, bool]:
        if self._closed:
            raise Disconnected("the connection pool is closed")
        if not fresh:
            now = self.loop.time()
            idle = self._idle
            while idle:
                conn = idle.pop()  # the most recently used: the least likely to have gone stale
                if not conn.closed and now - conn.idle_since < self.keepalive:
                    return conn, True
                conn.close()
        while len(self._open) >= self.limit:
            waiter = self.loop.create_future()
            self._slot_waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():  # woken, but leaving: wake the next instead
                    self._wake_one()
                raise
            finally:
                if waiter in self._slot_waiters:
                    self._slot_waiters.remove(waiter)
            if self._idle and not fresh:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn, True
        conn = _Connection(self)
        self._open.add(conn)
        try:
            await asyncio.wait_for(self._connect(conn), self.connect_timeout)
        except asyncio.TimeoutError:
            conn.close()
            raise ConnectTimeout(f"no connection within {self.connect_timeout:g}s") from None
        except BaseException:
            conn.close()
            raise
        return conn, False

    async def _connect(self, conn: _Connection) -> None:
        try:
            await self.loop.create_connection(lambda: conn, self.host, self.port, ssl=self.tls,
                                              server_hostname=self.host if self.tls else None)
        except ssl.SSLCertVerificationError as exc:
            raise CertificateError(exc.verify_message or str(exc)) from None
        except OSError as exc:
            raise ConnectError(exc) from None

    def _put_idle(self, conn: _Connection) -> None:
        if self._closed:
            conn.close()
            return
        conn.idle_since = self.loop.time()
        self._idle.append(conn)
        self._wake_one()

    def _forget(self, conn: _Connection) -> None:
        if conn in self._open:
            self._open.discard(conn)
            try:
                self._idle.remove(conn)
            except ValueError:
                pass
            self._wake_one()

    def _wake_one(self) -> None:
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        """Close every connection, idle or busy."""
        self._closed = True
        for conn in list(self._open):
            conn.close()
        await asyncio.sleep(0)  # let the transports run connection_lost


def _head_timeout(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(ResponseTimeout("no response head in time"))
