"""The bytes every part of a bench run agrees on: request bodies, canned answers, event stamps.

Streamed text deltas carry ``@<monotonic ns>`` taken just before the upstream writes
the event; CLOCK_MONOTONIC is shared by all processes on Linux, so the client can
subtract it from its own read time. The stamp survives translation because it is text.
"""

from __future__ import annotations

import json
import re

API_KEY = "sk-ant-bench-000000000000000000000000"
HEADERS = {
    "content-type": "application/json",
    "x-api-key": API_KEY,
    "anthropic-version": "2023-06-01",
}
STAMP = re.compile(rb"@(\d{6,})")

_SYSTEM = (
    "You are a careful coding assistant working in a large repository. Read files before "
    "editing them, keep changes small, run the tests after each change and explain what you did. "
) * 6
_TURNS = [
    ("user", "The request log is slow when the proxy is under load. Can you look at why?"),
    ("assistant", "I will read the writer first, then measure where the time goes before changing anything."),
    ("user", "Sounds good. Keep the public interface the same, other people depend on it."),
]
_TOOLS = [{
    "name": "read_file",
    "description": "Read a text file from the working directory and return its content with line numbers.",
    "input_schema": {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "Path relative to the working directory"},
            "offset": {"type": "integer", "description": "First line to return"},
            "limit": {"type": "integer", "description": "How many lines to return"},
        },
        "required": ["path"],
    },
}]


def request_body(stream: bool, model: str = "claude-sonnet-4-5") -> bytes:
    """A realistic small Messages request (system prompt, three turns, one tool), about 2 KB."""
    body = {
        "model": model,
        "max_tokens": 1024,
        "system": _SYSTEM,
        "tools": _TOOLS,
        "messages": [{"role": r, "content": t} for r, t in _TURNS],
        "stream": stream,
    }
    return json.dumps(body, separators=(",", ":")).encode()


MESSAGE_RESPONSE = json.dumps({
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "text", "text": "I will start by reading the request log writer."}],
    "model": "claude-sonnet-4-5",
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 412, "output_tokens": 12},
}, separators=(",", ":")).encode()

OPENAI_TEXT = "I will start by reading the request log writer (from the OpenAI-style stub)."
OPENAI_RESPONSE = json.dumps({
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-bench",
    "choices": [{
        "index": 0,
        "message": {"role": "assistant", "content": OPENAI_TEXT},
        "finish_reason": "stop",
    }],
    "usage": {"prompt_tokens": 412, "completion_tokens": 12, "total_tokens": 424},
}, separators=(",", ":")).encode()


def sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def anthropic_head() -> list[bytes]:
    return [
        sse("message_start", {"type": "message_start", "message": {
            "id": "msg_bench", "type": "message", "role": "assistant", "content": [],
            "model": "claude-sonnet-4-5", "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 412, "output_tokens": 1}}}),
        sse("content_block_start", {"type": "content_block_start", "index": 0,
                                    "content_block": {"type": "text", "text": ""}}),
    ]


def anthropic_delta(stamp_ns: int) -> bytes:
    return sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": f"@{stamp_ns} "}})


def anthropic_tail(events: int) -> list[bytes]:
    return [
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                              "usage": {"output_tokens": events}}),
        sse("message_stop", {"type": "message_stop"}),
    ]


def _chunk(delta: dict, finish: str | None = None) -> bytes:
    data = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
            "model": "gpt-bench", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def openai_head() -> list[bytes]:
    return [_chunk({"role": "assistant", "content": ""})]


def openai_delta(stamp_ns: int) -> bytes:
    return _chunk({"content": f"@{stamp_ns} "})


def openai_tail(events: int) -> list[bytes]:
    usage = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000,
             "model": "gpt-bench", "choices": [],
             "usage": {"prompt_tokens": 412, "completion_tokens": events, "total_tokens": 412 + events}}
    return [_chunk({}, "stop"), f"data: {json.dumps(usage, separators=(',', ':'))}\n\n".encode(),
            b"data: [DONE]\n\n"]
