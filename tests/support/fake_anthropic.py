"""A fake Anthropic API on 127.0.0.1 for tests: replays recorded bytes, records requests, fails on demand.

Usage (inside an async test)::

    fake = await FakeAnthropic(fixtures_dir / "anthropic").start()
    fake.enqueue(Reply.fixture("anthropic-stream-tool-use.sse"))   # next request gets these bytes
    fake.enqueue(Reply.json({"type": "error", ...}, status=529, headers={"retry-after": "7"}))
    fake.enqueue(Reply.sse(split_events(data)[:3], then="die"))   # a stream that breaks off
    ... send requests to fake.url ...
    fake.received[-1].body          # exactly the bytes the fake got
    await fake.close()

With nothing queued it answers like the API, from the fixture files: ``POST /v1/messages``
(a stream when the body says ``"stream": true``), ``/v1/messages/count_tokens``,
``GET /v1/models`` and ``GET /v1/models/{id}``. Streams are sent one SSE event per
write, chunked, like the real API. Failures: ``Reply(..., then="die")`` closes the
connection after the chunks (mid-stream death), ``then="hang"`` stops sending and waits,
``Reply.hang()`` never sends headers. The server cancels a handler when its client goes
away; ``fake.cancelled`` counts those and ``fake.client_gone`` is set.
For an upstream that refuses connections use `closed_port()`; for one that never accepts
them (a connect timeout) use `BlackholePort`.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

REQUEST_ID = "req_fake0123456789"
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
JSON_TYPE = "application/json"


def split_events(data: bytes) -> list[bytes]:
    """Cut an SSE body after each blank line: one chunk per event, bytes unchanged."""
    chunks, start = [], 0
    while True:
        end = data.find(b"\n\n", start)
        if end < 0:
            break
        chunks.append(data[start:end + 2])
        start = end + 2
    if start < len(data):
        chunks.append(data[start:])
    return chunks


@dataclass
class Reply:
    """One scripted answer. ``chunks`` are written one by one (chunked encoding)."""

    status: int = 200
    chunks: list[bytes] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    then: Literal["end", "die", "hang"] = "end"
    delay: float = 0.0
    content_length: bool = False
    never_answer: bool = False

    @classmethod
    def fixture(cls, name: str, *, status: int = 200, headers: dict[str, str] | None = None,
                folder: Path | None = None, **kw: Any) -> "Reply":
        """The bytes of a fixture file; ``.sse`` files go out one event per chunk."""
        folder = folder or default_folder()
        data = (folder / name).read_bytes()
        if name.endswith(".sse"):
            return cls(status, split_events(data), {**SSE_HEADERS, **(headers or {})}, **kw)
        return cls(status, [data], {"Content-Type": JSON_TYPE, **(headers or {})}, content_length=True, **kw)

    @classmethod
    def sse(cls, chunks: list[bytes], *, then: Literal["end", "die", "hang"] = "end", delay: float = 0.0,
            headers: dict[str, str] | None = None) -> "Reply":
        """A stream of these chunks (e.g. some of `split_events(fixture)`), then end, die or hang."""
        return cls(200, list(chunks), {**SSE_HEADERS, **(headers or {})}, then=then, delay=delay)

    @classmethod
    def json(cls, payload: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> "Reply":
        body = json.dumps(payload).encode()
        return cls(status, [body], {"Content-Type": JSON_TYPE, **(headers or {})}, content_length=True)

    @classmethod
    def raw(cls, body: bytes, *, status: int = 200, headers: dict[str, str] | None = None) -> "Reply":
        return cls(status, [body], dict(headers or {}), content_length=True)

    @classmethod
    def hang(cls) -> "Reply":
        """Accept the request and never send the status line."""
        return cls(never_answer=True)


@dataclass
class Received:
    """What the fake got: method, path with query, headers, body bytes."""

    method: str
    path_qs: str
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def default_folder() -> Path:
    """``tests/fixtures/anthropic`` in this repository."""
    return Path(__file__).resolve().parents[1] / "fixtures" / "anthropic"


class FakeAnthropic:
    """The fake upstream server. ``url`` is its base URL once started."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or default_folder()
        self.received: list[Received] = []
        self.queue: deque[Reply] = deque()
        self.cancelled = 0
        self.client_gone = asyncio.Event()
        self.answered = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def enqueue(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order; then back to defaults."""
        self.queue.extend(replies)

    async def start(self) -> "FakeAnthropic":
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "FakeAnthropic":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def default_reply(self, method: str, path: str, body: bytes) -> Reply:
        """What the real API would answer, from the fixture files."""
        if method == "POST" and path == "/v1/messages":
            try:
                stream = bool(json.loads(body).get("stream"))
            except (ValueError, AttributeError):
                return Reply.fixture("anthropic-error-invalid-beta-header.json", status=400, folder=self.folder)
            name = "anthropic-stream-basic-text.sse" if stream else "anthropic-response-message-text.json"
            return Reply.fixture(name, folder=self.folder)
        if method == "POST" and path == "/v1/messages/count_tokens":
            return Reply.fixture("anthropic-response-count-tokens.json", folder=self.folder)
        if method == "GET" and path == "/v1/models":
            return Reply.fixture("anthropic-models-list.json", folder=self.folder)
        if method == "GET" and path.startswith("/v1/models/"):
            return Reply.fixture("anthropic-model-get.json", folder=self.folder)
        return Reply.fixture("anthropic-error-not-found.json", status=404, folder=self.folder)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(request.method, request.raw_path, request.headers, body))
        reply = self.queue.popleft() if self.queue else self.default_reply(request.method, request.path, body)
        try:
            return await self._answer(request, reply)
        except asyncio.CancelledError:
            self.cancelled += 1
            self.client_gone.set()
            raise

    async def _answer(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        if reply.never_answer:
            await asyncio.Event().wait()
        headers = CIMultiDict({"request-id": REQUEST_ID, **reply.headers})
        response = web.StreamResponse(status=reply.status, headers=headers)
        if reply.content_length:
            response.content_length = sum(len(c) for c in reply.chunks)
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        for chunk in reply.chunks:
            if reply.delay:
                await asyncio.sleep(reply.delay)
            await response.write(chunk)
        if reply.then == "die":
            assert request.transport is not None
            request.transport.close()
            return response
        if reply.then == "hang":
            await asyncio.Event().wait()
        await response.write_eof()
        self.answered += 1
        return response


def closed_port() -> int:
    """A local port with nothing listening on it (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BlackholePort:
    """A local port whose accept queue is full, so new connections hang in connect (never refused).

    Use as a context manager; ``port`` is the port. Lets tests hit a connect timeout without
    touching the network.
    """

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port = self.listener.getsockname()[1]
        self.fillers: list[socket.socket] = []

    def __enter__(self) -> "BlackholePort":
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.fillers.append(filler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sock in [*self.fillers, self.listener]:
            sock.close()
