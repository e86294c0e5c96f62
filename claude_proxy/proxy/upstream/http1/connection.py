"""One keep-alive connection: an asyncio protocol that writes requests and feeds httptools."""

from __future__ import annotations

import asyncio
from typing import Protocol

import httptools
from multidict import CIMultiDict
from yarl import URL

from claude_proxy.proxy.upstream.http1.errors import BadResponse, BodyError, Disconnected
from claude_proxy.proxy.upstream.http1.response import Response

# Past this, a request body is written apart from its head instead of copied into one buffer.
_JOIN_MAX = 64 * 1024
# A response head larger than this is refused: the parser keeps a header line whole until it ends,
# so an upstream that never ends its headers would otherwise grow the process until it is killed.
MAX_HEAD_BYTES = 256 * 1024


class Owner(Protocol):
    """What a connection needs of its pool: the loop, the timeout, and where to go when done."""

    loop: asyncio.AbstractEventLoop
    read_timeout: float
    url: URL

    def _put_idle(self, conn: "_Connection") -> None: ...

    def _forget(self, conn: "_Connection") -> None: ...


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one exchange at a time."""

    def __init__(self, pool: Owner) -> None:
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
        self._head_bytes = 0  # bytes received while the current answer's head is still pending

    # --- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._head is None and self._response is None:
            self.close()  # bytes nobody asked for: the connection cannot be trusted any more
            return
        self.received = True
        if self._head is not None:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._broken(f"sent more than {MAX_HEAD_BYTES // 1024} KiB of response headers")
                return
        try:
            self._parser.feed_data(data)
        except Exception as exc:  # httptools.HttpParserError and anything a callback raised
            cause = exc.__context__  # httptools wraps a callback's exception ("User callback error")
            self._broken(str(cause) if isinstance(cause, BadResponse) else f"sent a malformed response ({exc})")

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
        codings = [c.strip().lower() for c in headers.get("Transfer-Encoding", "").split(",") if c.strip()]
        unknown = [c for c in codings if c not in ("chunked", "identity")]
        if unknown:  # the body would reach the client still encoded, with nothing to say so
            raise BadResponse(f"sent a response in the transfer coding {unknown[0]!r}, which the proxy does not "
                              "decode")
        response = Response(self, status, self._reason.decode("latin-1"), headers, self.pool.url)
        # RFC 9112 6.3: with Transfer-Encoding whose last coding is not chunked, the body ends where
        # the connection does; otherwise chunked framing or Content-Length says where.
        framed = codings[-1:] == ["chunked"] or ("Content-Length" in headers and not codings)
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
        self._head_bytes = 0
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
