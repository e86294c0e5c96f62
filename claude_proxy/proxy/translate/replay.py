"""A whole Anthropic message as a stream, for providers that answer a streaming request with JSON."""

from __future__ import annotations

from typing import Any

from claude_proxy.proxy.translate import jsonio
from claude_proxy.proxy.translate.sse import encode_event


def message_events(message: dict[str, Any]) -> bytes:
    """A whole Anthropic message as the stream a client expects (for providers that ignore ``stream``)."""
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {"input_tokens": message["usage"].get("input_tokens", 0), "output_tokens": 0}}
    out = [encode_event({"type": "message_start", "message": start})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            empty: dict[str, Any] = {"type": "text", "text": ""}
            delta: dict[str, Any] = {"type": "text_delta", "text": block["text"]}
        elif block["type"] == "thinking":
            empty = {"type": "thinking", "thinking": "", "signature": ""}
            delta = {"type": "thinking_delta", "thinking": block["thinking"]}
        else:
            empty = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": jsonio.dumps_text(block["input"])}
        out.append(encode_event({"type": "content_block_start", "index": index, "content_block": empty}))
        out.append(encode_event({"type": "content_block_delta", "index": index, "delta": delta}))
        out.append(encode_event({"type": "content_block_stop", "index": index}))
    out.append(encode_event({"type": "message_delta", "usage": message["usage"],
                             "delta": {"stop_reason": message["stop_reason"],
                                       "stop_sequence": message.get("stop_sequence")}}))
    out.append(encode_event({"type": "message_stop"}))
    return b"".join(out)
