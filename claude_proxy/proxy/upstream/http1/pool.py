"""Keep-alive connections to one upstream origin: reuse, limits, and expiry of idle ones.

A request is never sent twice here. A kept-alive connection is checked before it is
reused (a peek at the socket: an end of stream or stray bytes mean the upstream is done
with it), which is the only moment the upstream provably cannot have read the request.
Once the request is written, a dropped connection is the caller's failure to judge
(the retry policy), since the upstream may have read and acted on it.
"""

from __future__ import annotations

import asyncio
import collections
import socket
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
# An end of stream the event loop has not read yet can only be new; a connection idle this
# long may have met the upstream's idle timer just now, so its socket is peeked before a
# write. One used moments ago was kept by an upstream that said nothing of closing, and is
# not (the peek is three system calls per request under load).
PEEK_AFTER_SECONDS = 1.0
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
        self._sweep: asyncio.TimerHandle | None = None
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
        conn = await self._acquire()
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

    def _reusable(self, conn: _Connection) -> bool:
        """Whether an idle connection can carry a request: open, fresh enough, and still wanted upstream."""
        idle = self.loop.time() - conn.idle_since
        if conn.closed or idle >= self.keepalive:
            return False
        return idle < PEEK_AFTER_SECONDS or _socket_alive(conn.transport)

    async def _acquire(self) -> _Connection:
        if self._closed:
            raise Disconnected("the connection pool is closed")
        idle = self._idle
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to have gone stale
            if self._reusable(conn):
                return conn
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
            while self._idle:
                conn = self._idle.pop()
                if self._reusable(conn):
                    return conn
                conn.close()
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
        return conn

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
        if self._sweep is None:
            self._sweep = self.loop.call_later(self.keepalive, self._expire_idle)
        self._wake_one()

    def _expire_idle(self) -> None:
        """Close the connections idle for ``keepalive`` seconds, so none lingers on either side."""
        self._sweep = None
        now = self.loop.time()
        idle = self._idle
        while idle and (idle[0].closed or now - idle[0].idle_since >= self.keepalive):
            idle.popleft().close()  # the oldest first: the deque is in the order they went idle
        if idle:
            self._sweep = self.loop.call_later(idle[0].idle_since + self.keepalive - now, self._expire_idle)

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
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for conn in list(self._open):
            conn.close()
        await asyncio.sleep(0)  # let the transports run connection_lost


def _socket_alive(transport: asyncio.BaseTransport | None) -> bool:
    """False when the upstream has closed the socket or sent bytes nobody asked for.

    A peek, not a read: nothing is consumed. Only an empty socket that is still open
    can carry a request the upstream is sure to read as a new one. (uvloop's transport
    sockets refuse ``recv``, so the peek goes through a duplicate of the descriptor.)
    """
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return True
    try:
        with socket.fromfd(sock.fileno(), sock.family, sock.type) as probe:
            probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return True
    except OSError:
        return False
    return False  # bytes nobody asked for, or the end of the stream


def _head_timeout(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(ResponseTimeout("no response head in time"))
