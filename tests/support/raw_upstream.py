"""A raw HTTP/1.1 upstream on ``asyncio.start_server``: byte-level control of the answers.

Used by the tests of the proxy's own HTTP/1.1 client (claude_proxy/proxy/upstream/http1/). Each
connection reads requests one by one (head, then a ``Content-Length`` body) and hands
each to a *script*, ``async (conn, request) -> None``, which writes whatever bytes the
test wants with ``conn.writer`` (or closes, or waits). The server records what a test
needs to check: connections made, requests seen, and which connections the client closed.

- ``reply(*parts, close=False, hang=False)``: a script that writes ``parts`` one by one.
- ``response(body, status=..., headers=..., version=..., length=True)``: response bytes.
- ``silent``: a script that never answers (it waits for the client to hang up).

And, for the client side: ``fetch(pool, ...)`` (one whole exchange) and ``read_chunks(response)``.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Iterable

from claude_proxy.proxy.upstream import http1


@dataclass
class Request:
    """One request as it arrived: ``head`` is the request line and headers (no blank line)."""

    head: bytes
    body: bytes

    @property
    def line(self) -> bytes:
        return self.head.split(b"\r\n", 1)[0]


@dataclass
class Conn:
    """One accepted connection, as the server saw it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    requests: list[Request] = field(default_factory=list)
    eof: asyncio.Event = field(default_factory=asyncio.Event)  # the client closed it


Script = Callable[[Conn, Request], Awaitable[None]]


def response(body: bytes = b"ok", *, status: str = "200 OK", headers: Iterable[str] = (),
             version: str = "1.1", length: bool = True) -> bytes:
    lines = [f"HTTP/{version} {status}", *headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def reply(*parts: bytes, close: bool = False, hang: bool = False, pause: float = 0.01) -> Script:
    """Write ``parts`` (``pause`` seconds apart, so each arrives on its own); then close, or
    hang (never another byte, until the client hangs up), or wait for the next request."""
    async def script(conn: Conn, request: Request) -> None:
        for i, part in enumerate(parts):
            if i:
                await asyncio.sleep(pause)
            conn.writer.write(part)
            await conn.writer.drain()
        if close:
            conn.writer.close()
        elif hang:
            await silent(conn, request)
    return script


async def silent(conn: Conn, request: Request) -> None:
    await conn.reader.read()  # until the client hangs up


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on the connection, or None at EOF (or a reset)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return Request(head[:-4], await reader.readexactly(length))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


class RawUpstream:
    """The server; ``script`` answers every request unless a test swaps it."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.conns: list[Conn] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> "RawUpstream":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[Request]:
        return [r for c in self.conns for r in c.requests]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Conn(reader, writer)
        self.conns.append(conn)
        try:
            while not writer.is_closing():
                request = await read_request(reader)
                if request is None:
                    conn.eof.set()
                    break
                conn.requests.append(request)
                await self.script(conn, request)
        except ConnectionError:
            conn.eof.set()
        finally:
            writer.close()
            self._tasks.discard(task)

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


async def fetch(pool: http1.ConnectionPool, method: str = "GET", target: str = "/",
                headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> tuple[http1.Response, bytes]:
    """One whole exchange: the response and its body, the connection handed back."""
    resp = await pool.request(method, target, list(headers), body)
    data = await resp.read()
    resp.release()
    return resp, data


async def read_chunks(resp: http1.Response) -> list[bytes]:
    """``readany()`` until the end of the body."""
    chunks = []
    while chunk := await resp.readany():
        chunks.append(chunk)
    return chunks
