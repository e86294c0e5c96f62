"""The upstream stub: answers Anthropic and OpenAI-style requests as fast as it can.

Run as its own process (`python -m bench.stub --port P --events N --interval S`) with
uvloop. Streamed answers send `events` stamped text deltas `interval` seconds apart;
`GET /_bench/first` returns (and resets) when the first request arrived, which the
start-up section uses to time `claude-proxy chat -p`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from aiohttp import web

from bench import payloads

_JSON_HEADERS = {"content-type": "application/json", "request-id": "req_bench"}
_SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache", "request-id": "req_bench"}


def _wants_stream(body: bytes) -> bool:
    if b'"stream"' not in body:
        return False
    try:
        return bool(json.loads(body).get("stream"))
    except (ValueError, AttributeError):
        return False


class Stub:
    def __init__(self, events: int, interval: float) -> None:
        self.events = events
        self.interval = interval
        self.first_ns: int | None = None

    def _seen(self) -> None:
        if self.first_ns is None:
            self.first_ns = time.monotonic_ns()

    async def _stream(self, request: web.Request, head: list[bytes], delta, tail: list[bytes]) -> web.StreamResponse:
        resp = web.StreamResponse(headers=_SSE_HEADERS)
        await resp.prepare(request)
        for frame in head:
            await resp.write(frame)
        for _ in range(self.events):
            if self.interval:
                await asyncio.sleep(self.interval)
            await resp.write(delta(time.monotonic_ns()))
        for frame in tail:
            await resp.write(frame)
        await resp.write_eof()
        return resp

    async def messages(self, request: web.Request) -> web.StreamResponse:
        self._seen()
        body = await request.read()
        if not _wants_stream(body):
            return web.Response(body=payloads.MESSAGE_RESPONSE, headers=_JSON_HEADERS)
        return await self._stream(request, payloads.anthropic_head(), payloads.anthropic_delta,
                                  payloads.anthropic_tail(self.events))

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        self._seen()
        body = await request.read()
        if not _wants_stream(body):
            return web.Response(body=payloads.OPENAI_RESPONSE, headers=_JSON_HEADERS)
        return await self._stream(request, payloads.openai_head(), payloads.openai_delta,
                                  payloads.openai_tail(self.events))

    async def first(self, request: web.Request) -> web.Response:
        value, self.first_ns = self.first_ns, None
        return web.json_response({"first_ns": value})


def make_app(events: int = 50, interval: float = 0.005) -> web.Application:
    stub = Stub(events, interval)
    app = web.Application()
    app.router.add_post("/v1/messages", stub.messages)
    app.router.add_post(r"/{prefix:.*}chat/completions", stub.chat_completions)
    app.router.add_get("/_bench/first", stub.first)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.005)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        uvloop = None
    web.run_app(make_app(args.events, args.interval), host="127.0.0.1", port=args.port,
                access_log=None, print=None, backlog=4096, shutdown_timeout=1,
                **({"loop": uvloop.new_event_loop()} if uvloop else {}))


if __name__ == "__main__":
    main()
