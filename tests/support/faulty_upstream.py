"""A misbehaving Anthropic upstream for fault-injection tests.

It answers like the Messages API (replaying the recorded fixture stream, or a
JSON message) unless told to fail. The failure is chosen per request, by the
``x-fault`` header (the proxy forwards it untouched) or by the requested model
(``FaultyUpstream(model_faults={...})``, for fallbacks), and counted per
``x-fault-id`` so ``529x2`` means "the first two attempts of this request":

  ok              a normal answer (stream when the body says ``"stream": true``)
  refuse          close the connection without answering
  hang-headers    never send the response headers
  hang-mid        send headers and two events, then go silent forever
  reset-mid       send headers and two events, then reset the TCP connection
  malformed-sse   a 200 event stream whose events are not valid JSON
  429-then-ok     429 rate_limit_error with ``retry-after: 1`` once, then ok
  529x2           529 overloaded_error twice, then ok
  529-forever     529 overloaded_error every time
  status:N        an Anthropic-shaped error with status N every time
  slow:S          a normal stream that takes about S seconds

Use it in a thread (``with FaultyUpstream() as up: up.url``) so synchronous
tests and clients work, or as a process: ``python -m tests.support.faulty_upstream
--port 0`` prints ``listening on http://127.0.0.1:PORT`` when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from aiohttp import web

STREAM_FIXTURE = "anthropic-stream-basic-text.sse"
MESSAGE_FIXTURE = "anthropic-response-message-text.json"
_MODEL = re.compile(rb'"model"\s*:\s*"([^"]*)"')
_STREAM = re.compile(rb'"stream"\s*:\s*true')


def _fixture(name: str) -> bytes:
    """A recorded Anthropic fixture from ``tests/fixtures/anthropic`` in this repository."""
    return (Path(__file__).resolve().parents[1] / "fixtures" / "anthropic" / name).read_bytes()


def _error(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps({"type": "error", "error": {"type": error_type, "message": message}})
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


def refused_url() -> str:
    """A 127.0.0.1 URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class Received:
    """One request as the upstream saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    fault: str
    outcome: str = "pending"  # done | cancelled | reset | refused


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout`` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@dataclass
class FaultyUpstream:
    """The misbehaving upstream; see the module docstring for the faults."""

    model_faults: dict[str, str] = field(default_factory=dict)
    default_fault: str = "ok"
    keep_bodies: bool = True
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._tries: Counter[str] = Counter()
        self._stream = _fixture(STREAM_FIXTURE)
        self._events = [e + b"\n\n" for e in self._stream.split(b"\n\n") if e.strip()]
        self._message = _fixture(MESSAGE_FIXTURE)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._lock = threading.Lock()
        self.in_flight = 0

    # --- what the tests look at ---------------------------------------------------------
    def count(self, outcome: str | None = None, fault: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.received
                       if (outcome is None or r.outcome == outcome) and (fault is None or r.fault == fault))

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:
        """Poll ``predicate()`` until true or ``timeout``; for events that happen in the server thread."""
        return wait_until(predicate, timeout)

    # --- the server ---------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    def _choose(self, request: web.Request, body: bytes) -> tuple[str, int]:
        fault = request.headers.get("x-fault")
        if fault is None:
            match = _MODEL.search(body)
            model = match.group(1).decode() if match else ""
            fault = self.model_faults.get(model, self.default_fault)
        key = f"{request.headers.get('x-fault-id', '')}|{fault}"
        with self._lock:
            self._tries[key] += 1
            return fault, self._tries[key]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        fault, n = self._choose(request, body)
        record = Received(request.method, request.path_qs, dict(request.headers),
                          body if self.keep_bodies else b"", fault)
        with self._lock:
            self.received.append(record)
            if len(self.received) > 100_000:
                del self.received[:50_000]
        self.in_flight += 1
        try:
            response = await self._answer(request, body, fault, n, record)
            if record.outcome == "pending":
                record.outcome = "done"
            return response
        except asyncio.CancelledError:
            record.outcome = "cancelled"
            raise
        except ConnectionResetError:  # the proxy went away while we were writing
            record.outcome = "cancelled"
            return web.Response(status=499)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request, body: bytes, fault: str, n: int,
                      record: Received) -> web.StreamResponse:
        stream = bool(_STREAM.search(body))
        if fault == "refuse":
            record.outcome = "refused"
            assert request.transport is not None
            request.transport.abort()
            await asyncio.sleep(3600)
        if fault == "hang-headers":
            await asyncio.sleep(3600)
        if fault == "429-then-ok" and n == 1:
            return _error(429, "rate_limit_error", "Number of requests has exceeded your rate limit",
                          {"retry-after": "1"})
        if (fault == "529x2" and n <= 2) or fault == "529-forever":
            return _error(529, "overloaded_error", "Overloaded")
        if fault.startswith("status:"):
            status = int(fault.split(":", 1)[1])
            return _error(status, "api_error" if status >= 500 else "invalid_request_error", f"fault {status}")
        if request.path.startswith("/v1/models"):
            return web.json_response({"data": [{"type": "model", "id": "claude-sonnet-4-5"}],
                                      "has_more": False, "first_id": None, "last_id": None})
        if request.path.endswith("/count_tokens"):
            return web.json_response({"input_tokens": 42})
        if fault in ("hang-mid", "reset-mid", "malformed-sse") or stream:
            return await self._stream_answer(request, fault, record)
        return web.Response(body=self._message, content_type="application/json",
                            headers={"request-id": "req_faulty"})

    async def _stream_answer(self, request: web.Request, fault: str, record: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8",
                                               "cache-control": "no-cache", "request-id": "req_faulty"})
        await response.prepare(request)
        if fault == "malformed-sse":
            await response.write(b"event: message_start\ndata: {\"type\": \"message_start\", \"mess\n\n")
            await response.write(b"event: content_block_delta\ndata: not json at all\n\n")
            await response.write_eof()
            return response
        delay = float(fault.split(":", 1)[1]) / max(len(self._events), 1) if fault.startswith("slow:") else 0.0
        for index, event in enumerate(self._events):
            if index == 2 and fault == "hang-mid":
                await asyncio.sleep(3600)
            if index == 2 and fault == "reset-mid":
                record.outcome = "reset"
                assert request.transport is not None
                sock = request.transport.get_extra_info("socket")
                if sock is not None:  # SO_LINGER 0: close sends RST, not FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                request.transport.abort()
                return response
            await response.write(event)
            if delay:
                await asyncio.sleep(delay)
        await response.write_eof()
        return response

    # --- running it -----------------------------------------------------------------------
    async def start_async(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.url = f"http://{host}:{bound}"
        return self.url

    async def stop_async(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> "FaultyUpstream":
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.start_async())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self.stop_async())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="faulty-upstream", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("faulty upstream did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A misbehaving Anthropic upstream for tests.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fault", default="ok", help="the fault for requests without x-fault")
    args = parser.parse_args(argv)
    upstream = FaultyUpstream(default_fault=args.fault, keep_bodies=False)

    async def serve() -> None:
        url = await upstream.start_async(port=args.port)
        print(f"listening on {url}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
