"""Capture real Claude Code requests for the bench's Claude Code workload.

    npm install --prefix /tmp/cc @anthropic-ai/claude-code
    python -m bench.capture --claude /tmp/cc/node_modules/.bin/claude --out bench/data/claude-code

Runs ``claude -p`` in a scratch project against a scripted upstream on 127.0.0.1
(``ANTHROPIC_BASE_URL``, ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1``): the upstream
answers with a few read-only tool calls (Glob, Read, Grep, Read) and then a final text,
streamed, so Claude Code sends a multi-turn tool session. Each request is saved as one
file: a JSON line of method, path and headers (keys masked), then the exact body bytes.
Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

PLAN = [("Glob", {"pattern": "**/*.py"}), ("Read", {"file_path": "{work}/hello.py"}),
        ("Grep", {"pattern": "print", "path": "{work}"}), ("Read", {"file_path": "{work}/README.md"})]


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def _stream(message: dict[str, Any]) -> list[bytes]:
    start = {**message, "content": [], "stop_reason": None}
    out = [_event("message_start", {"type": "message_start", "message": start})]
    for i, block in enumerate(message["content"]):
        if block["type"] == "text":
            out += [_event("content_block_start", {"type": "content_block_start", "index": i,
                                                   "content_block": {"type": "text", "text": ""}}),
                    _event("content_block_delta", {"type": "content_block_delta", "index": i,
                                                   "delta": {"type": "text_delta", "text": block["text"]}})]
        else:
            out += [_event("content_block_start", {"type": "content_block_start", "index": i, "content_block": {
                        "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}),
                    _event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {
                        "type": "input_json_delta", "partial_json": json.dumps(block["input"])}})]
        out.append(_event("content_block_stop", {"type": "content_block_stop", "index": i}))
    out.append(_event("message_delta", {"type": "message_delta", "delta": {"stop_reason": message["stop_reason"],
                                        "stop_sequence": None}, "usage": {"output_tokens": 30}}))
    out.append(_event("message_stop", {"type": "message_stop"}))
    return out


class Upstream:
    """The scripted API: records every request and walks Claude Code through the plan."""

    def __init__(self, out: Path, work: Path) -> None:
        self.out, self.work, self.count = out, work, 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.count += 1
        headers = {k: ("****" if k.lower() in ("x-api-key", "authorization") else v)
                   for k, v in request.headers.items()}
        head = json.dumps({"method": request.method, "path": request.path_qs, "headers": headers})
        if request.path.startswith("/v1/"):  # not the connection probe (HEAD /)
            name = f"{self.count:03d}{request.path.replace('/', '_')}.json"
            (self.out / name).write_bytes(head.encode() + b"\n" + body)
        if request.path != "/v1/messages":
            return web.json_response({"input_tokens": 1000} if request.path.endswith("count_tokens") else {})
        req = json.loads(body)
        turn = sum(1 for m in req["messages"] if m["role"] == "assistant")
        if req.get("tools") and turn < len(PLAN):
            name, shape = PLAN[turn]
            arguments = {k: v.format(work=self.work) for k, v in shape.items()}
            content = [{"type": "text", "text": f"Step {turn + 1}: using {name}."},
                       {"type": "tool_use", "id": f"toolu_{self.count:04d}", "name": name, "input": arguments}]
        else:
            content = [{"type": "text", "text": "The project prints a greeting; nothing else to change."}]
        message = {"id": f"msg_{self.count:04d}", "type": "message", "role": "assistant", "model": req["model"],
                   "content": content, "stop_reason": "tool_use" if len(content) > 1 else "end_turn",
                   "stop_sequence": None, "usage": {"input_tokens": 50, "output_tokens": 30,
                                                    "cache_read_input_tokens": 15000,
                                                    "cache_creation_input_tokens": 500}}
        if not req.get("stream"):
            return web.json_response(message)
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "request-id": f"req_{self.count}"})
        await response.prepare(request)
        for chunk in _stream(message):
            await response.write(chunk)
        await response.write_eof()
        return response


async def capture(claude: str, out: Path, prompt: str) -> int:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cc-project-"))
    (work / "hello.py").write_text('def main():\n    print("hello")\n\n\nmain()\n')
    (work / "README.md").write_text("# greeter\nA tiny project.\n")
    upstream = Upstream(out, work)
    app = web.Application(client_max_size=64 << 20)
    app.router.add_route("*", "/{tail:.*}", upstream.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    env = {**os.environ, "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}", "ANTHROPIC_API_KEY": "sk-ant-capture-0000",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
           "HOME": tempfile.mkdtemp(prefix="cc-home-")}
    try:
        await asyncio.to_thread(subprocess.run, [claude, "-p", prompt, "--model", "claude-sonnet-4-5"], cwd=work,
                                env=env, timeout=300, check=True, capture_output=True)
    finally:
        await runner.cleanup()
    return upstream.count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claude", default="claude", help="the claude executable")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "claude-code")
    parser.add_argument("--prompt", default="Look at this project and tell me what hello.py prints")
    args = parser.parse_args()
    count = asyncio.run(capture(args.claude, args.out, args.prompt))
    print(f"captured {count} requests in {args.out}")


if __name__ == "__main__":
    main()
