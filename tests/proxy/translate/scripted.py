"""Scripted chat-completions streams, shaped like the quirks real providers have."""

from __future__ import annotations

import json
from typing import Any


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, usage: dict[str, Any] | None = None,
          model: str = "scripted-model") -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "model": model,
        "choices": [] if delta is None and finish is None else [
            {"index": 0, "delta": delta or {}, "finish_reason": finish}
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"


def call(index: int | None, id: str | None = None, name: str | None = None, arguments: str | None = None) -> dict:
    out: dict[str, Any] = {}
    if index is not None:
        out["index"] = index
    if id:
        out["id"] = id
        out["type"] = "function"
    function: dict[str, Any] = {}
    if name:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    out["function"] = function
    return out


USAGE = {"prompt_tokens": 120, "completion_tokens": 33, "total_tokens": 153,
         "prompt_tokens_details": {"cached_tokens": 100}}
DONE = b"data: [DONE]\n\n"


def text_then_tools() -> bytes:
    """Text, then two tools whose arguments interleave, then more text; usage and [DONE]."""
    return b"".join([
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Let me look "}),
        chunk({"content": "that up."}),
        chunk({"tool_calls": [call(0, "call_a", "Read", "")]}),
        chunk({"tool_calls": [call(0, arguments='{"file_path": ')]}),
        chunk({"tool_calls": [call(1, "call_b", "Grep", '{"pattern"')]}),
        chunk({"tool_calls": [call(0, arguments='"/tmp/a.py"}')]}),
        chunk({"tool_calls": [call(1, arguments=': "def "}')]}),
        chunk({"content": "Done."}),
        chunk(finish="tool_calls"),
        chunk(usage=USAGE),
        DONE,
    ])


def one_piece_parallel() -> bytes:
    """Whole calls in one chunk, both numbered 0 (as some providers do), no usage, no [DONE]."""
    return b"".join([
        chunk({"role": "assistant", "tool_calls": [
            {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "Bash", "arguments": '{"command": "ls"}'}},
            {"index": 0, "id": "call_2", "type": "function",
             "function": {"name": "Bash", "arguments": '{"command": "pwd"}'}},
        ]}),
        chunk(finish="stop"),
    ])


def reasoning_then_text() -> bytes:
    """DeepSeek-style reasoning_content before the answer, with non-ASCII text."""
    return b"".join([
        chunk({"role": "assistant", "reasoning_content": "Think: 27*453 "}),
        chunk({"reasoning_content": "= 12231."}),
        chunk({"content": "27 × 453 = 12 231 — voilà 🎉"}),
        chunk(finish="stop", usage={"prompt_tokens": 20, "completion_tokens": 15, "total_tokens": 35}),
        DONE,
    ])
