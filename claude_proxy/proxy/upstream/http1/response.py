"""One upstream response: its head at once, its body as the connection feeds it."""

from __future__ import annotations

import asyncio
import collections
from typing import Protocol

from multidict import CIMultiDict
from yarl import URL

from claude_proxy.proxy.upstream.http1.errors import BodyError

# Buffered body bytes past which the socket stops being read until the client catches up.
HIGH_WATER = 256 * 1024


class Reader(Protocol):
    """What a response needs of the connection under it: its loop and timeout, flow control
    of the socket reads, and a way to hand it back (``reuse``) or drop it (``close``)."""

    loop: asyncio.AbstractEventLoop
    read_timeout: float

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def reuse(self) -> None: ...

    def close(self) -> None: ...


class Response:
    """One upstream response: status and headers at once, the body as it arrives.

    Mirrors the part of ``aiohttp.ClientResponse`` the relay uses (``status``,
    ``reason``, ``headers``, ``content_length``, ``content.readany()``, ``read()``,
    ``release()``, ``close()``), so the relay code reads the same either way.
    """

    __slots__ = ("status", "reason", "headers", "content_length", "url", "_conn", "_chunks", "_buffered",
                 "_done", "_error", "_waiter", "_paused")

    def __init__(self, conn: Reader, status: int, reason: str, headers: CIMultiDict[str],
                 url: URL) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        length = headers.get("Content-Length")
        self.content_length: int | None = int(length) if length is not None and length.isdigit() else None
        self.url = url
        self._conn: Reader | None = conn
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
