# A frozen copy of claude_proxy/requestlog/assemble.py as it was before the log writer was optimised
# (main at 69a13b5), kept as the oracle the optimised assembler is checked against. Never edit.
"""Turn logged response bytes back into an Anthropic message, after the fact.

The proxy forwards streams untouched; the request-log writer calls this module
later, off the request path, to rebuild what the client ended up with: the
text, thinking and tool_use blocks joined from the deltas, the usage and the
stop reason. Input may be cut short (a body over the log's size cap, an
upstream that died mid-stream) or malformed: every function here returns what
it could recover instead of raising.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import jiter

logger = logging.getLogger(__name__)

USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


@dataclass
class SSEEvent:
    """One server-sent event: its ``event:`` name (``message`` when absent) and joined ``data:`` lines."""

    event: str
    data: str


@dataclass
class Assembled:
    """What the log keeps from a response: the message (or None) plus anything that went wrong."""

    message: dict[str, Any] | None = None
    error: str | None = None
    complete: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def usage(self) -> dict[str, int]:
        """The four token counts, whichever of them the response reported."""
        return usage_of(self.message)

    @property
    def stop_reason(self) -> str | None:
        return (self.message or {}).get("stop_reason")

    @property
    def model(self) -> str | None:
        return (self.message or {}).get("model")


def parse_sse(data: bytes | str) -> list[SSEEvent]:
    """Split a ``text/event-stream`` body into events, per the WHATWG rules.

    Lines end in LF, CRLF or CR; ``:`` lines are comments; several ``data:``
    lines join with LF; a blank line dispatches. A last event without its
    blank line (a cut-off stream) is still returned when it carries data.
    """
    text = data.decode("utf-8", errors="replace") if isinstance(data, (bytes, bytearray)) else data
    events: list[SSEEvent] = []
    name = ""
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if lines:
                events.append(SSEEvent(name or "message", "\n".join(lines)))
            name, lines = "", []
            continue
        if line.startswith(":"):
            continue
        key, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if key == "event":
            name = value
        elif key == "data":
            lines.append(value)
    if lines:
        events.append(SSEEvent(name or "message", "\n".join(lines)))
    return events


def looks_like_sse(body: bytes) -> bool:
    """True when a body starts like an event stream rather than a JSON document."""
    head = body.lstrip()[:16]
    return head.startswith((b"event:", b"data:", b":", b"id:", b"retry:"))


def parse_partial_json(text: str) -> Any:
    """Parse JSON that may be cut short, keeping only the values that are complete.

    A cut-off trailing string is dropped, as the official SDKs do, so the
    logged message is the one the client's SDK ended up with. None when
    nothing usable can be recovered.
    """
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return jiter.from_json(text.encode("utf-8"), partial_mode=True)
    except ValueError:
        return None


def usage_of(message: dict[str, Any] | None) -> dict[str, int]:
    """The integer token counts in a message's ``usage``, by their API names."""
    usage = (message or {}).get("usage")
    if not isinstance(usage, dict):
        return {}
    return {k: usage[k] for k in USAGE_FIELDS if isinstance(usage.get(k), int)}


def _error_text(payload: Any) -> str | None:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        err = payload["error"]
        kind, text = err.get("type"), err.get("message")
        return ": ".join(str(p) for p in (kind, text) if p) or "error"
    return None


class _StreamAssembler:
    """Applies Messages API stream events to a message, the way the SDKs' accumulators do."""

    def __init__(self) -> None:
        self.message: dict[str, Any] | None = None
        self.partial_json: dict[int, str] = {}
        self.error: str | None = None
        self.complete = False
        self.problems: list[str] = []

    def _block(self, index: Any) -> dict[str, Any] | None:
        content = self.message["content"] if self.message else None
        if isinstance(index, int) and content is not None and 0 <= index < len(content):
            block = content[index]
            return block if isinstance(block, dict) else None
        self.problems.append(f"event for unknown block index {index!r}")
        return None

    def feed(self, payload: dict[str, Any]) -> None:
        kind = payload.get("type")
        if kind == "message_start":
            msg = payload.get("message")
            self.message = copy.deepcopy(msg) if isinstance(msg, dict) else {}
            if not isinstance(self.message.get("content"), list):
                self.message["content"] = []
        elif kind == "error":
            self.error = _error_text(payload) or "error"
        elif kind == "ping":
            return
        elif self.message is None:
            self.problems.append(f"{kind} before message_start")
        elif kind == "content_block_start":
            block = payload.get("content_block")
            block = copy.deepcopy(block) if isinstance(block, dict) else {}
            index = payload.get("index")
            content = self.message["content"]
            if isinstance(index, int) and index > len(content):
                content.extend({} for _ in range(index - len(content)))
            if isinstance(index, int) and index < len(content):
                content[index] = block
            else:
                content.append(block)
        elif kind == "content_block_delta":
            self._delta(payload.get("index"), payload.get("delta") or {})
        elif kind == "content_block_stop":
            self._finish_block(payload.get("index"))
        elif kind == "message_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict):
                self.message.update(delta)
            usage = payload.get("usage")
            if isinstance(usage, dict):
                merged = self.message.get("usage")
                merged = dict(merged) if isinstance(merged, dict) else {}
                merged.update({k: v for k, v in usage.items() if v is not None})
                self.message["usage"] = merged
        elif kind == "message_stop":
            self.complete = True

    def _delta(self, index: Any, delta: dict[str, Any]) -> None:
        block = self._block(index)
        if block is None:
            return
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + str(delta.get("text", ""))
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + str(delta.get("thinking", ""))
        elif kind == "signature_delta":
            # Sent once, right before the block ends; the SDKs replace rather than append.
            block["signature"] = str(delta.get("signature", ""))
        elif kind == "input_json_delta":
            self.partial_json[index] = self.partial_json.get(index, "") + str(delta.get("partial_json", ""))
        elif kind == "citations_delta":
            block.setdefault("citations", []).append(delta.get("citation"))
        else:
            self.problems.append(f"unknown delta type {kind!r}")

    def _finish_block(self, index: Any) -> None:
        if index not in self.partial_json:
            return
        block = self._block(index)
        raw = self.partial_json.pop(index)
        if block is None:
            return
        parsed = parse_partial_json(raw)
        if isinstance(parsed, dict):
            block["input"] = parsed
        elif raw.strip():
            self.problems.append(f"tool input of block {index} is not a JSON object")

    def result(self) -> Assembled:
        for index in list(self.partial_json):
            self._finish_block(index)
        if self.message is not None:
            # Placeholders for blocks whose start event was unreadable carry nothing worth keeping.
            self.message["content"] = [b for b in self.message["content"] if b != {}]
        return Assembled(self.message, self.error, self.complete, self.problems)


_CLOSING_EVENTS = ("message_delta", "message_stop", "error")


def _payloads(body: bytes | str, asm: _StreamAssembler) -> list[dict[str, Any]]:
    payloads = []
    for event in parse_sse(body):
        try:
            payload = json.loads(event.data)
        except ValueError:
            asm.problems.append(f"{event.event}: data is not JSON")
            continue
        if not isinstance(payload, dict):
            asm.problems.append(f"{event.event}: data is not an object")
            continue
        if "type" not in payload and event.event:
            payload["type"] = event.event
        payloads.append(payload)
    return payloads


def _after_first_boundary(tail: bytes) -> bytes:
    """Drop the partial event a tail starts in the middle of."""
    ends = [i + len(sep) for sep in (b"\n\n", b"\r\n\r\n", b"\r\r") if (i := tail.find(sep)) >= 0]
    return tail[min(ends):] if ends else b""


def assemble_stream(body: bytes | str, *, tail: bytes = b"") -> Assembled:
    """Rebuild the final message from a Messages API SSE body, however much of it there is.

    ``tail`` is the end of a stream whose middle was not kept: only its closing
    events (usage, stop reason, errors) are applied, after the head's.
    """
    asm = _StreamAssembler()
    for payload in _payloads(body, asm):
        asm.feed(payload)
    if tail:
        asm.problems.append("the middle of the stream was not kept")
        for payload in _payloads(_after_first_boundary(tail), asm):
            if payload.get("type") in _CLOSING_EVENTS:
                asm.feed(payload)
    return asm.result()


def assemble_json(body: bytes | str) -> Assembled:
    """Read a non-streamed response: a message, an error document, or neither."""
    try:
        payload = jiter.from_json(body if isinstance(body, bytes) else body.encode("utf-8"))
    except ValueError:
        return Assembled(problems=["response body is not JSON"])
    if not isinstance(payload, dict):
        return Assembled(problems=["response body is not a JSON object"])
    if payload.get("type") == "error":
        return Assembled(error=_error_text(payload) or "error", complete=True)
    if payload.get("type") == "message":
        return Assembled(message=payload, complete=True)
    return Assembled(complete=True)


def assemble(body: bytes, *, stream: bool | None = None, tail: bytes = b"") -> Assembled:
    """Assemble a response body; ``stream=None`` sniffs SSE from the first bytes."""
    if not body:
        return Assembled(problems=["empty response body"])
    if stream is None:
        stream = looks_like_sse(body)
    return assemble_stream(body, tail=tail) if stream else assemble_json(body)
