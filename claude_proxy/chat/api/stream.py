"""Server-sent events of a streamed Messages reply: events for the UI, and the final message they add up to.

The final message is assembled as the SDK's ``MessageStream`` assembles it (text, thinking,
signature, citations and tool input deltas into their blocks; ``message_delta`` sets the stop
reason and updates the usage), with content blocks as plain dicts.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from pydantic_core import from_json

from claude_proxy.chat.api.errors import APIConnectionError, APIError, stream_error

MESSAGE_EVENTS = frozenset({"message_start", "content_block_start", "content_block_delta", "content_block_stop",
                            "message_delta", "message_stop"})
USAGE_UPDATES = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "server_tool_use",
                 "output_tokens_details")


@dataclass
class StreamEvent:
    """One event: a wire event (``data`` is what the API sent) or a derived ``text`` / ``thinking`` delta.

    ``content_block`` is the finished block on ``content_block_stop``.
    """

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    thinking: str = ""
    content_block: dict[str, Any] | None = None


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs from the lines of an event stream (the SSE rules: blank line ends an event)."""
    event = ""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data or event:
                yield event or "message", "\n".join(data)
            event, data = "", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield event or "message", "\n".join(data)


class MessageAccumulator:
    """Adds wire events up into the final message; tells which events to show."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.message: dict[str, Any] | None = None
        self.done = False
        self._json: dict[int, str] = {}

    def feed(self, event: str, data: str) -> list[StreamEvent]:
        """The events one SSE event yields; an ``error`` event raises the SDK's status error."""
        if event == "ping" or (event not in MESSAGE_EVENTS and event != "error"):
            return []
        try:
            payload = json.loads(data)
        except json.JSONDecodeError as exc:
            raise APIError(f"malformed event data in the stream: {data[:200]!r}", self.url) from exc
        if event == "error":
            raise stream_error(payload, self.url)
        return self._apply(payload)

    def _apply(self, event: dict[str, Any]) -> list[StreamEvent]:
        kind = event.get("type", "")
        out = [StreamEvent(kind, event)]
        if kind == "message_start":
            self.message = copy.deepcopy(event["message"])
            self.message.setdefault("content", [])
            return out
        message = self._current()
        if kind == "content_block_start":
            message["content"].append(copy.deepcopy(event["content_block"]))
        elif kind == "content_block_delta":
            out.extend(self._delta(message["content"][event["index"]], event["index"], event["delta"]))
        elif kind == "content_block_stop":
            index = event["index"]
            block = message["content"][index]
            if block.get("type") in ("tool_use", "server_tool_use", "mcp_tool_use"):
                block["input"] = self._tool_input(index, block)
            out[0].content_block = block
        elif kind == "message_delta":
            delta = event["delta"]
            message["stop_reason"] = delta.get("stop_reason")
            message["stop_sequence"] = delta.get("stop_sequence")
            message["stop_details"] = delta.get("stop_details")
            if delta.get("container") is not None:
                message["container"] = delta["container"]
            usage = event.get("usage") or {}
            message.setdefault("usage", {})["output_tokens"] = usage.get("output_tokens", 0)
            for name in USAGE_UPDATES:
                if usage.get(name) is not None:
                    message["usage"][name] = usage[name]
        elif kind == "message_stop":
            self.done = True
        return out

    def _current(self) -> dict[str, Any]:
        if self.message is None:
            raise APIError("the stream sent an event before message_start", self.url)
        return self.message

    def _delta(self, block: dict[str, Any], index: int, delta: dict[str, Any]) -> list[StreamEvent]:
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + delta["text"]
            return [StreamEvent("text", text=delta["text"])]
        if kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + delta["thinking"]
            return [StreamEvent("thinking", thinking=delta["thinking"])]
        if kind == "signature_delta":
            block["signature"] = delta["signature"]
        elif kind == "input_json_delta":
            self._json[index] = self._json.get(index, "") + delta["partial_json"]
        elif kind == "citations_delta":
            block.setdefault("citations", []).append(delta["citation"])
        return []

    def _tool_input(self, index: int, block: dict[str, Any]) -> Any:
        """The input so far, parsed as the SDK parses it (partial JSON: an unfinished last string is left out)."""
        raw = self._json.pop(index, "")
        if not raw:
            return block.get("input") or {}
        try:
            return from_json(raw, allow_partial=True)
        except ValueError as exc:
            raise APIError(f"the tool input of {block.get('name')!r} is not valid JSON: {raw[:200]}",
                           self.url) from exc

    def final_message(self) -> dict[str, Any]:
        """The whole message; a stream that ended early is a connection error.

        A tool call cut off by ``max_tokens`` (no ``content_block_stop``) keeps the input
        parsed so far, as in the SDK's snapshot.
        """
        if self.message is None or not self.done:
            raise APIConnectionError(self.url, "the stream ended before the message was complete")
        for index in list(self._json):
            block = self.message["content"][index]
            block["input"] = self._tool_input(index, block)
        return self.message
