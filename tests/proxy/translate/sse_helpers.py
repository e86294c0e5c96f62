"""Reading Anthropic SSE bytes back in tests: events, and the message a client would assemble."""

from __future__ import annotations

import json
from typing import Any


def events(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, parsed data) for each frame; asserts the frame's name matches its type."""
    out = []
    for frame in data.decode("utf-8").split("\n\n"):
        if not frame.strip():
            continue
        lines = frame.split("\n")
        assert lines[0].startswith("event: "), frame
        assert lines[1].startswith("data: "), frame
        name = lines[0][len("event: "):]
        payload = json.loads(lines[1][len("data: "):])
        assert payload["type"] == name
        out.append((name, payload))
    return out


def check_sequence(evs: list[tuple[str, dict[str, Any]]]) -> None:
    """The structure Anthropic clients rely on: start, blocks in order never interleaved, delta, stop."""
    names = [n for n, _ in evs if n != "ping"]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    # events() parses every data line as JSON, so a "data: [DONE]" frame cannot be among them
    open_index = None
    expected = 0
    for name, payload in evs[1:-2]:
        if name == "content_block_start":
            assert open_index is None, "a block started while another was open"
            assert payload["index"] == expected
            open_index = expected
            expected += 1
        elif name == "content_block_delta":
            assert payload["index"] == open_index
        elif name == "content_block_stop":
            assert payload["index"] == open_index
            open_index = None
        else:
            assert name == "ping", name
    assert open_index is None


def assemble(evs: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The final message, as an SDK accumulator would build it."""
    message: dict[str, Any] = {}
    partial: dict[int, str] = {}
    for name, payload in evs:
        if name == "message_start":
            message = json.loads(json.dumps(payload["message"]))
        elif name == "content_block_start":
            message["content"].append(dict(payload["content_block"]))
        elif name == "content_block_delta":
            block = message["content"][payload["index"]]
            delta = payload["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "input_json_delta":
                partial[payload["index"]] = partial.get(payload["index"], "") + delta["partial_json"]
        elif name == "content_block_stop":
            if payload["index"] in partial:
                message["content"][payload["index"]]["input"] = json.loads(partial[payload["index"]])
        elif name == "message_delta":
            message["stop_reason"] = payload["delta"]["stop_reason"]
            message["usage"].update(payload["usage"])
    return message
