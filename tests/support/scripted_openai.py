"""A scripted OpenAI-compatible backend on 127.0.0.1: each upstream model name plays its own script.

    backend = await ScriptedOpenAI().start()
    backend.play("late-name", Script(stream=[chunk(...), chunk(...)], answer={...}))
    ... route a model to backend.url ...
    backend.requests[-1]["tools"]            # what the proxy sent
    await backend.cancelled("slow").wait()   # set when the proxy dropped a stream mid-way

A `Script` answers a streaming request with its ``stream`` frames (a number in the list
is a pause in seconds; ``hang`` keeps the stream open afterwards) and any other request
with its ``answer`` JSON. A script may also be a function of the request body, for
answers that depend on what the proxy sent (an aliased tool name, say).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    """One chat-completions SSE frame; ``extra`` adds top-level members (``error=...``, ``usage=...``)."""
    body: dict[str, Any] = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "model": "scripted",
                            "choices": [] if delta is None and finish is None else [
                                {"index": 0, "delta": delta or {}, "finish_reason": finish}]}
    body.update(extra)
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def completion(message: dict[str, Any], finish: str | None = "stop", **extra: Any) -> dict[str, Any]:
    """A whole chat-completions answer."""
    return {"id": "chatcmpl-scripted", "object": "chat.completion", "model": "scripted",
            "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}, **extra}


DONE = b"data: [DONE]\n\n"


@dataclass
class Script:
    stream: list[bytes | float] = field(default_factory=list)
    answer: dict[str, Any] | None = None
    hang: bool = False


@dataclass
class ScriptedOpenAI:
    scripts: dict[str, Script | Callable[[dict[str, Any]], Script]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _cancelled: dict[str, asyncio.Event] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    def play(self, model: str, script: Script | Callable[[dict[str, Any]], Script]) -> None:
        self.scripts[model] = script

    def cancelled(self, model: str) -> asyncio.Event:
        """Set when the proxy closed ``model``'s stream before it ended."""
        return self._cancelled.setdefault(model, asyncio.Event())

    async def start(self) -> ScriptedOpenAI:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        model = body["model"]
        script = self.scripts[model]
        if callable(script):
            script = script(body)
        if not body.get("stream"):
            return web.json_response(script.answer)
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        try:
            for item in script.stream:
                if isinstance(item, bytes):
                    await response.write(item)
                else:
                    await asyncio.sleep(item)
            if script.hang:
                await asyncio.sleep(60)
        except (asyncio.CancelledError, ConnectionResetError):
            self.cancelled(model).set()
            raise
        await response.write_eof()
        return response
