"""A lean HTTP/1.1 client for the upstream: keep-alive connections on asyncio protocols,
responses read by httptools (llhttp, the parser inside Node.js).

Why not aiohttp's client: on the benchmark machine it costs about 90 µs of CPU per
request, more than the whole rest of the proxy; this path costs about 10. It does only
what a pass-through needs: write one request, hand back the response head as soon
as it is complete, then the body chunk by chunk as it arrives (chunked framing
removed, content encoding untouched), and keep the connection for the next request
when the response allows it.

Failures are `UpstreamError` subclasses that say what happened: no connection
(`ConnectError`, `ConnectTimeout`, `CertificateError`), no response head
(`ResponseTimeout`, `Disconnected`, `BadResponse`), or a body cut short (`BodyError`;
a read that waits longer than the read timeout raises `asyncio.TimeoutError`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from typing import Any, Iterable

import httptools
from multidict import CIMultiDict
from yarl import URL

log = logging.getLogger(__name__)

# Buffered body bytes past which the socket stops being read until the client catches up.
HIGH_WATER = 256 * 1024
# Idle connections older than this are closed rather than reused (servers drop them around 60 s).
KEEPALIVE_SECONDS = 15.0
# Past this, a request body is written apart from its head instead of copied into one buffer.
_JOIN_MAX = 64 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class UpstreamError(Exception):
    """The upstream could not be reached or did not answer properly."""


class ConnectError(UpstreamError):
    """The TCP (or TLS) connection could not be made; ``os_error`` says why."""

    def __init__(self, os_error: OSError) -> None:
        super().__init__(str(os_error))
        self.os_error = os_error


class ConnectTimeout(UpstreamError):
    """No connection within the connect timeout."""


class CertificateError(UpstreamError):
    """The upstream's TLS certificate did not verify; ``reason`` is OpenSSL's."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ResponseTimeout(UpstreamError):
    """The request went out but no complete response head came back in time."""


class Disconnected(UpstreamError):
    """The upstream closed the connection before the response head."""


class BadResponse(UpstreamError):
    """The upstream's answer is not valid HTTP/1.1."""


class BodyError(UpstreamError):
    """The response body ended early or broke (the connection closed mid-body)."""


class Response:
    """One upstream response: status and headers at once, the body as it arrives.

    Mirrors the part of ``aiohttp.ClientResponse`` the relay uses (``status``,
    ``reason``, ``headers``, ``content_length``, ``content.readany()``, ``read()``,
    ``release()``, ``close()``), so the relay code reads the same either way.
    """

    __slots__ = ("status", "reason", "headers", "content_length", "url", "_conn", "_chunks", "_buffered",
                 "_done", "_error", "_waiter", "_paused")

    def __init__(self, conn: "_Connection", status: int, reason: str, headers: CIMultiDict[str],
                 url: URL) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        length = headers.get("Content-Length")
        self.content_length: int | None = int(length) if length is not None and length.isdigit() else None
        self.url = url
        self._conn: _Connection | None = conn
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    @property
    def content(self) -> "Response":
        """The body stream (``readany()``), as on aiohttp's response."""
        return self

    # --- fed by the connection --------------------------------------------------------------
    def _feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._buffered > HIGH_WATER and not self._paused and self._conn is not None:
            self._paused = True
            self._conn.pause()
        self._wake()

    def _finish(self) -> None:
        self._done = True
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        if not self._done:
            self._error = exc
            self._done = True
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # --- read by the relay ------------------------------------------------------------------
    async def readany(self) -> bytes:
        """The bytes that arrived since the last call (waiting for some); ``b""`` at the end."""
        while not self._chunks:
            if self._done:
                if self._error is not None:
                    raise self._error
                return b""
            await self._wait()
        if len(self._chunks) == 1:
            data = self._chunks.popleft()
        else:
            data = b"".join(self._chunks)
            self._chunks.clear()
        self._buffered = 0
        if self._paused and self._conn is not None:
            self._paused = False
            self._conn.resume()
        return data

    async def read(self) -> bytes:
        """The whole body."""
        while not self._done:
            if self._paused and self._conn is not None:
                self._paused = False
                self._conn.resume()
            await self._wait()
        if self._error is not None:
            raise self._error
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        if self._paused and self._conn is not None:  # the last chunks paused it: the next exchange reads
            self._paused = False
            self._conn.resume()
        return data

    async def _wait(self) -> None:
        conn = self._conn
        if conn is None:  # closed by our side: nothing more will come
            self._fail(BodyError("the response was closed"))
            return
        waiter = conn.loop.create_future()
        self._waiter = waiter
        timer = conn.loop.call_later(conn.read_timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    # --- handing the connection back ----------------------------------------------------------
    def release(self) -> None:
        """Done with the response: the connection goes back to the pool if it can carry another."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._done and self._error is None and not self._chunks:
            conn.reuse()
        else:
            conn.close()

    def close(self) -> None:
        """Drop the connection (the upstream sees it close; used when the client went away)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        self._fail(BodyError("the response was closed"))


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(asyncio.TimeoutError())


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one exchange at a time."""

    def __init__(self, pool: "ConnectionPool") -> None:
        self.pool = pool
        self.loop = pool.loop
        self.read_timeout = pool.read_timeout
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.received = False  # any byte of the current exchange's answer
        self._parser = httptools.HttpResponseParser(self)
        self._head: asyncio.Future[Response] | None = None
        self._response: Response | None = None
        self._reason = b""
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._informational = False
        self._until_close = False
        self._reusable = True
        self._head_only = False

    # --- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._head is None and self._response is None:
            self.close()  # bytes nobody asked for: the connection cannot be trusted any more
            return
        self.received = True
        try:
            self._parser.feed_data(data)
        except Exception as exc:  # httptools.HttpParserError and anything a callback raised
            self._broken(f"sent a malformed response ({exc})")

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost settles the exchange

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        head, response = self._head, self._response
        if head is not None and not head.done():
            reason = f" ({type(exc).__name__}: {exc})" if exc else ""
            head.set_exception(Disconnected(f"closed the connection before answering{reason}"))
        elif response is not None and not response._done:
            if self._until_close and exc is None:
                response._finish()  # a body that ends where the connection does
            else:
                response._fail(BodyError("closed the connection in the middle of the response"))
        self._head = None
        self.pool._forget(self)

    def pause_writing(self) -> None:  # large request bodies: the transport buffers them
        pass

    def resume_writing(self) -> None:
        pass

    # --- httptools callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._raw_headers = []
        self._reason = b""

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # "100 Continue" and friends: the real answer follows
            self._informational = True
            return
        headers: CIMultiDict[str] = CIMultiDict(
            [(n.decode("latin-1"), v.decode("utf-8", "surrogateescape")) for n, v in self._raw_headers])
        response = Response(self, status, self._reason.decode("latin-1"), headers, self.pool.url)
        framed = "Content-Length" in headers or "Transfer-Encoding" in headers
        self._until_close = not framed and status not in (204, 304)
        self._response = response
        head, self._head = self._head, None
        if head is not None and not head.done():
            head.set_result(response)
        if self._head_only:
            self._reusable = False  # llhttp would wait for the body a HEAD answer never has
            response._finish()

    def on_body(self, body: bytes) -> None:
        if self._response is not None and not self._head_only:
            self._response._feed(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        if not self._parser.should_keep_alive():
            self._reusable = False
        if self._response is not None:
            self._response._finish()

    # --- used by the pool and the response ----------------------------------------------------
    def send(self, method: str, head: bytes, body: bytes) -> asyncio.Future[Response]:
        """Write one request; the future resolves with the response once its head is in."""
        assert self.transport is not None
        self._head = self.loop.create_future()
        self._response = None
        self.received = False
        self._head_only = method == "HEAD"
        if len(body) <= _JOIN_MAX:
            self.transport.write(head + body)
        else:
            self.transport.write(head)
            self.transport.write(body)
        return self._head

    def _broken(self, message: str) -> None:
        head, response = self._head, self._response
        if head is not None and not head.done():
            head.set_exception(BadResponse(message))
        elif response is not None:
            response._fail(BodyError(message))
        self.close()

    def pause(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def reuse(self) -> None:
        """The exchange is over: back to the pool, or closed when it cannot carry another."""
        self._response = None
        if self._reusable and not self.closed:
            self.pool._put_idle(self)
        else:
            self.close()

    def close(self) -> None:
        response = self._response
        if response is not None and not response._done:  # or connection_lost takes our close for its end
            response._fail(BodyError("response was cut short: the proxy closed the connection"))
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True
        self.pool._forget(self)


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
