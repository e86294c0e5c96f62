"""An OpenAI-compatible server on 127.0.0.1 for the tests: the upstream model name picks the scenario.

Recorded streams are replayed from ``tests/fixtures/openai/`` one SSE event per
write; scripted ones reproduce provider quirks. Every request is recorded.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from . import scripted

RECORDED = {
    "recorded-text": "openai-chunks-text-with-usage.sse",
    "recorded-tool-call": "openai-chunks-tool-call-with-usage.sse",
    "recorded-parallel": "openai-chunks-parallel-tool-calls-with-usage.sse",
}
SCRIPTED = {
    "text-then-tools": scripted.text_then_tools,
    "one-piece": scripted.one_piece_parallel,
    "reasoning": scripted.reasoning_then_text,
}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeOpenAI:
    fixtures: Path
    received: list[Received] = field(default_factory=list)
    silence: float = 0.5
    url: str = ""
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.completions)
        return app

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append(Received(request.path, dict(request.headers), body))
        model = body["model"]
        if model == "no-headers":
            await asyncio.sleep(60)
        if model == "rate-limited":
            return web.json_response(
                {"error": {"message": "Rate limit reached for requests", "type": "requests",
                           "code": "rate_limit_exceeded"}},
                status=429, headers={"retry-after": "7"})
        if model == "unauthorized":
            return web.json_response({"error": {"message": "Incorrect API key provided"}}, status=401)
        if model == "server-error":
            return web.Response(status=500, text="internal error")
        if model == "error-in-200":
            if not body.get("stream"):
                return web.json_response({"error": {"message": "Provider returned error", "code": 429}})
            error = b'data: {"error": {"message": "Provider returned error", "code": 429}}\n\n'
            return web.Response(body=scripted.chunk({"content": "Par"}) + error,
                                content_type="text/event-stream")
        if model == "error-first":
            return web.Response(body=b'data: {"error": {"message": "Upstream overloaded", "code": 503}}\n\n',
                                content_type="text/event-stream")
        if not body.get("stream") or model == "ignores-stream":
            return web.json_response(self._completion("recorded-tool-call" if model == "ignores-stream" else model))
        data = self._stream(model)
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "x-request-id": "req_fake_1"})
        await response.prepare(request)
        if model in ("slow", "hang"):
            try:
                await asyncio.sleep(self.silence if model == "slow" else 60)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        for event in data.split(b"\n\n"):
            if event:
                await response.write(event + b"\n\n")
        if model == "midstream-fail":
            await asyncio.sleep(0.1)  # let the partial answer reach the proxy before the connection dies
            request.transport.close()
            return response
        await response.write_eof()
        return response

    def _stream(self, model: str) -> bytes:
        if model in RECORDED:
            return (self.fixtures / "openai" / RECORDED[model]).read_bytes()
        if model in SCRIPTED:
            return SCRIPTED[model]()
        if model == "midstream-fail":
            return scripted.chunk({"role": "assistant", "content": "Half an ans"})
        if model == "empty":
            return b""
        # "slow", "no-usage" and anything else: a short text without usage and without [DONE]
        return scripted.chunk({"role": "assistant", "content": "Hello from "}) + scripted.chunk(
            {"content": model}) + scripted.chunk(finish="stop")

    def _completion(self, model: str) -> dict[str, Any]:
        if model == "recorded-tool-call":
            return json.loads((self.fixtures / "openai" / "openai-chat-completion-tool-call.json").read_text())
        return {
            "id": "chatcmpl-1", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": f"Hello from {model}"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15},
        }
