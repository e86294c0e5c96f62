"""A scripted fake Anthropic Messages API on 127.0.0.1, for driving agents turn by turn.

Each POST /v1/messages takes the next scripted reply: a `Reply` (text, thinking and
tool_use blocks, streamed as real SSE when the request asks for a stream) or an
`ErrorReply` (status and Anthropic error body). Every request is recorded with its
headers. The server runs in its own thread with its own event loop, so synchronous
code (subprocess.run, pexpect) and async tests can both talk to it.

    with ScriptedAnthropic() as fake:
        fake.script(Reply(text="Hi"), Reply(tool_use("Bash", {"command": "ls"})))
        ... ANTHROPIC_BASE_URL=fake.url ...
        fake.requests[1]["messages"][-1]
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_ids = itertools.count(1)


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def thinking(value: str, signature: str = "sig-fake") -> dict[str, Any]:
    return {"type": "thinking", "thinking": value, "signature": signature}


def tool_use(name: str, tool_input: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    return {"type": "tool_use", "id": id or f"toolu_{next(_ids):04d}", "name": name, "input": tool_input}


@dataclass
class Reply:
    """One assistant message. Strings in ``blocks`` are text blocks.

    ``hang_after`` stops the stream after that many blocks have been sent (and a first
    text delta of the next one, if it is text) and keeps the connection open until the
    test releases it or the client goes away: a model still "typing" for Ctrl-C tests.
    ``error_after`` sends an ``error`` event after that many blocks, as the API does when
    it is overloaded mid-stream (``error`` is its type and message). ``delay`` waits that
    many seconds before answering at all, like a model slow to start.
    """

    blocks: list[Any] = field(default_factory=list)
    stop_reason: str | None = None
    usage: dict[str, int] = field(default_factory=lambda: {"input_tokens": 100, "output_tokens": 20})
    hang_after: int | None = None
    error_after: int | None = None
    error: tuple[str, str] = ("overloaded_error", "Overloaded")
    delay: float = 0.0

    def __init__(self, *blocks: Any, stop_reason: str | None = None, usage: dict[str, int] | None = None,
                 hang_after: int | None = None, error_after: int | None = None,
                 error: tuple[str, str] = ("overloaded_error", "Overloaded"), delay: float = 0.0) -> None:
        self.blocks = [text(b) if isinstance(b, str) else b for b in blocks]
        self.stop_reason = stop_reason or ("tool_use" if any(b["type"] == "tool_use" for b in self.blocks)
                                           else "end_turn")
        self.usage = usage or {"input_tokens": 100, "output_tokens": 20}
        self.hang_after = hang_after
        self.error_after = error_after
        self.error = error
        self.delay = delay


@dataclass
class ErrorReply:
    status: int
    type: str = "api_error"
    message: str = "fake error"
    headers: dict[str, str] = field(default_factory=dict)


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _chunks(value: str, size: int = 7) -> list[str]:
    return [value[i:i + size] for i in range(0, len(value), size)] or [""]


class ScriptedAnthropic:
    """The fake server; use as a context manager (or start()/stop())."""

    def __init__(self) -> None:
        self._replies: list[Reply | ErrorReply] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.hanging = threading.Event()
        self._release: asyncio.Event | None = None
        self.disconnected = threading.Event()

    def script(self, *replies: Reply | ErrorReply) -> None:
        self._replies.extend(replies)

    @property
    def remaining(self) -> int:
        return len(self._replies)

    def start(self) -> "ScriptedAnthropic":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> "ScriptedAnthropic":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start(self) -> None:
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        if not self._replies:
            return web.json_response(
                {"type": "error", "error": {"type": "api_error", "message": "fake script exhausted"}}, status=500)
        reply = self._replies.pop(0)
        if isinstance(reply, Reply) and reply.delay:
            await asyncio.sleep(reply.delay)
        if isinstance(reply, ErrorReply):
            return web.json_response({"type": "error", "error": {"type": reply.type, "message": reply.message}},
                                     status=reply.status, headers=reply.headers)
        message = {
            "id": f"msg_{next(_ids):04d}", "type": "message", "role": "assistant", "model": body.get("model"),
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": reply.usage.get("input_tokens", 0), "output_tokens": 1,
                      "cache_creation_input_tokens": reply.usage.get("cache_creation_input_tokens", 0),
                      "cache_read_input_tokens": reply.usage.get("cache_read_input_tokens", 0)},
        }
        if not body.get("stream"):
            message.update(content=reply.blocks, stop_reason=reply.stop_reason,
                           usage={**message["usage"], "output_tokens": reply.usage.get("output_tokens", 0)})
            return web.json_response(message)
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "request-id": "req_fake"})
        await response.prepare(request)
        try:
            await self._stream(response, message, reply)
        except (ConnectionResetError, asyncio.CancelledError):
            self.disconnected.set()
            raise
        return response

    async def _stream(self, response: web.StreamResponse, message: dict[str, Any], reply: Reply) -> None:
        await response.write(_sse("message_start", {"type": "message_start", "message": message}))
        for index, block in enumerate(reply.blocks):
            if index == reply.error_after:
                await self._error_event(response, reply)
                return
            if reply.hang_after is not None and index == reply.hang_after:
                if block["type"] == "text":
                    await response.write(_sse("content_block_start", {
                        "type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}))
                    await response.write(_sse("content_block_delta", {
                        "type": "content_block_delta", "index": index,
                        "delta": {"type": "text_delta", "text": _chunks(block["text"])[0]}}))
                await self._hang()
                return
            await self._block(response, index, block)
        if reply.error_after is not None and reply.error_after >= len(reply.blocks):
            await self._error_event(response, reply)
            return
        if reply.hang_after is not None and reply.hang_after >= len(reply.blocks):
            await self._hang()
            return
        await response.write(_sse("message_delta", {
            "type": "message_delta", "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": reply.usage.get("output_tokens", 0)}}))
        await response.write(_sse("message_stop", {"type": "message_stop"}))

    @staticmethod
    async def _error_event(response: web.StreamResponse, reply: Reply) -> None:
        kind, message = reply.error
        await response.write(_sse("error", {"type": "error", "error": {"type": kind, "message": message}}))

    async def _hang(self) -> None:
        self.hanging.set()
        assert self._release is not None
        await self._release.wait()

    async def _block(self, response: web.StreamResponse, index: int, block: dict[str, Any]) -> None:
        kind = block["type"]
        start = {"text": {"type": "text", "text": ""},
                 "thinking": {"type": "thinking", "thinking": "", "signature": ""},
                 "tool_use": {"type": "tool_use", "id": block.get("id"), "name": block.get("name"), "input": {}}}[kind]
        await response.write(_sse("content_block_start", {
            "type": "content_block_start", "index": index, "content_block": start}))
        if kind == "text":
            deltas = [{"type": "text_delta", "text": c} for c in _chunks(block["text"])]
        elif kind == "thinking":
            deltas = [{"type": "thinking_delta", "thinking": c} for c in _chunks(block["thinking"])]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            deltas = [{"type": "input_json_delta", "partial_json": c} for c in _chunks(json.dumps(block["input"]))]
        for delta in deltas:
            await response.write(_sse("content_block_delta", {
                "type": "content_block_delta", "index": index, "delta": delta}))
        await response.write(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
