"""Turn logged response bytes back into an Anthropic message, after the fact.

The proxy forwards streams untouched; the request-log writer calls this module
later, off the request path, to rebuild what the client ended up with: the
text, thinking and tool_use blocks joined from the deltas, the usage and the
stop reason. Input may be cut short (a body over the log's size cap, an
upstream that died mid-stream) or malformed: every function here returns what
it could recover instead of raising.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import jiter

from claude_proxy.requestlog.jsontext import loads
from claude_proxy.requestlog.sse import (
    SSEEvent,
    after_first_boundary,
    block_events,
    looks_like_sse,
    parse_sse,
    sse_text,
)

__all__ = ["Assembled", "SSEEvent", "assemble", "assemble_json", "assemble_stream", "looks_like_sse",
           "parse_partial_json", "parse_sse", "read_answer", "usage_of"]

logger = logging.getLogger(__name__)

USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
# A block index may skip a few (a block the stream never opened); an upstream that names index
# 999999999 must not make the writer hold a billion placeholders.
MAX_SKIPPED_BLOCKS = 1024


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


def parse_partial_json(text: str) -> Any:
    """Parse JSON that may be cut short, keeping only the values that are complete.

    A cut-off trailing string is dropped, as the official SDKs do, so the
    logged message is the one the client's SDK ended up with. None when
    nothing usable can be recovered.
    """
    if not text.strip():
        return None
    try:
        return loads(text)
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
    """Applies Messages API stream events to a message, the way the SDKs' accumulators do.

    Payloads are fresh from parsing and fed once, so their objects become the
    message's own without a copy. Text and thinking deltas are gathered per block and
    joined once at the end rather than concatenated per delta (quadratic in a long
    answer); nothing reads a block's text before then, and the key takes its place
    in the block at the first delta, as before.
    """

    def __init__(self) -> None:
        self.message: dict[str, Any] | None = None
        self.partial_json: dict[int, list[str]] = {}  # each block's tool input, in pieces
        self.error: str | None = None
        self.complete = False
        self.problems: list[str] = []
        # (id(block), key) -> (block, the pieces of its text so far): the block is held so its id stays unique.
        self._pieces: dict[tuple[int, str], tuple[dict[str, Any], list[str]]] = {}

    def _block(self, index: Any) -> dict[str, Any] | None:
        content = self.message["content"] if self.message else None
        if isinstance(index, int) and content is not None and 0 <= index < len(content):
            block = content[index]
            return block if isinstance(block, dict) else None
        self.problems.append(f"event for unknown block index {index!r}")
        return None

    def feed(self, payload: dict[str, Any]) -> None:
        kind = payload.get("type")
        if kind == "content_block_delta":  # nearly every event: tested first
            if self.message is None:
                self.problems.append(f"{kind} before message_start")
            else:
                self._delta(payload.get("index"), payload.get("delta") or {})
        elif kind == "message_start":
            msg = payload.get("message")
            self.message = msg if isinstance(msg, dict) else {}
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
            block = block if isinstance(block, dict) else {}
            index = payload.get("index")
            content = self.message["content"]
            if isinstance(index, int) and index - len(content) > MAX_SKIPPED_BLOCKS:
                self.problems.append(f"content_block_start index {index} skips over {MAX_SKIPPED_BLOCKS} blocks")
                index = len(content)  # kept at the end; events for the index it gave are reported unknown
            if isinstance(index, int) and index > len(content):
                content.extend({} for _ in range(index - len(content)))
            if isinstance(index, int) and index < len(content):
                content[index] = block
            else:
                content.append(block)
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

    def _start(self, block: dict[str, Any], key: str, piece: str) -> None:
        """The first ``block[key] += piece`` of a block: the key takes its place, the pieces start."""
        current = block.get(key, "")
        if type(current) is not str:
            block[key] = current + piece  # what a non-string does with a string (TypeError), right away
            return
        block[key] = current
        self._pieces[(id(block), key)] = (block, [current, piece])

    def _join(self) -> None:
        for (_, key), (block, pieces) in self._pieces.items():
            block[key] = "".join(pieces)
        self._pieces.clear()

    def text_deltas(self, index: int, pieces: list[str]) -> None:
        """``feed`` of consecutive ``text_delta`` events of one block, read without their payloads
        (see `_TEXT_DELTA`)."""
        if self.message is None:
            self.problems.extend(["content_block_delta before message_start"] * len(pieces))
            return
        block = self._block(index)
        if block is None:  # `_block` said what is wrong once; the events would have said it each
            self.problems.extend(self.problems[-1:] * (len(pieces) - 1))
            return
        self._add_text(block, "text", pieces)

    def _add_text(self, block: dict[str, Any], key: str, pieces: list[str]) -> None:
        """``block[key] += piece`` for each piece, gathered to be joined once (see the class)."""
        gathered = self._pieces.get((id(block), key))
        if gathered is None:
            self._start(block, key, pieces[0])  # raises at once when the block's value is not a string
            gathered = self._pieces[(id(block), key)]
            pieces = pieces[1:]
        gathered[1].extend(pieces)

    def _delta(self, index: Any, delta: dict[str, Any]) -> None:
        block = self._block(index)
        if block is None:
            return
        kind = delta.get("type")
        if kind == "text_delta" or kind == "thinking_delta":
            key = "text" if kind == "text_delta" else "thinking"
            self._add_text(block, key, [str(delta.get(key, ""))])
        elif kind == "signature_delta":
            # Sent once, right before the block ends; the SDKs replace rather than append.
            block["signature"] = str(delta.get("signature", ""))
        elif kind == "input_json_delta":
            self.partial_json.setdefault(index, []).append(str(delta.get("partial_json", "")))
        elif kind == "citations_delta":
            block.setdefault("citations", []).append(delta.get("citation"))
        else:
            self.problems.append(f"unknown delta type {kind!r}")

    def _finish_block(self, index: Any) -> None:
        if index not in self.partial_json:
            return
        block = self._block(index)
        raw = "".join(self.partial_json.pop(index))
        if block is None:
            return
        parsed = parse_partial_json(raw)
        if isinstance(parsed, dict):
            block["input"] = parsed
        elif raw.strip():
            self.problems.append(f"tool input of block {index} is not a JSON object")

    def result(self) -> Assembled:
        self._join()
        for index in list(self.partial_json):
            self._finish_block(index)
        if self.message is not None:
            # Placeholders for blocks whose start event was unreadable carry nothing worth keeping.
            self.message["content"] = [b for b in self.message["content"] if b != {}]
        return Assembled(self.message, self.error, self.complete, self.problems)


_CLOSING_EVENTS = ("message_delta", "message_stop", "error")
# Nearly every event of an answer, byte for byte as the API sends it: a text delta. Such a
# block is read by this match (its index and its string's text) instead of a JSON parse and
# a dict per event; the string admits exactly what JSON does (no raw control characters).
_TEXT_DELTA = re.compile(r'(?:event: ?[^\n]*\n)?data: ?\{"type":"content_block_delta","index":(0|[1-9][0-9]{0,8}),'
                         r'"delta":\{"type":"text_delta","text":"([^"\\\x00-\x1f]*(?:\\[^\x00-\x1f][^"\\\x00-\x1f]*)*)"\}\}')


def _payloads(body: bytes | str, asm: _StreamAssembler) -> list[dict[str, Any] | tuple[int, list[str]]]:
    """Each event's payload, in order; consecutive text deltas of one block as (index, their texts).

    The body is read block by block, as ``sse`` splits it at blank lines. A block that is one
    text delta as the API sends it is read by `_TEXT_DELTA` instead of a JSON parse and a dict
    per event; any other block takes ``sse``'s rules.
    """
    payloads: list[dict[str, Any] | tuple[int, list[str]]] = []
    text_delta = _TEXT_DELTA.fullmatch
    run_index, run = "", None  # the text deltas just read: their block's index (as sent), their texts
    events: list[tuple[str, str]] = []
    for block in sse_text(body).split("\n\n"):
        match = text_delta(block)
        if match is not None:
            index, piece = match.groups()
            if "\\" in piece:
                try:
                    piece = json.loads(f'"{piece}"')
                except ValueError:  # an escape JSON does not have: the usual path says so
                    match = None
            if match is not None:
                if run is not None and index == run_index:
                    run.append(piece)
                else:
                    run_index, run = index, [piece]
                    payloads.append((int(index), run))
                continue
        run = None
        block_events(block, events)
        for name, data in events:
            _payload(name, data, asm, payloads)
        events.clear()
    return payloads


def _payload(name: str, data: str, asm: _StreamAssembler, payloads: list[Any]) -> None:
    try:
        payload = loads(data)
    except ValueError:
        asm.problems.append(f"{name}: data is not JSON")
        return
    if type(payload) is not dict:
        asm.problems.append(f"{name}: data is not an object")
        return
    if "type" not in payload and name:
        payload["type"] = name
    payloads.append(payload)


def assemble_stream(body: bytes | str, *, tail: bytes = b"") -> Assembled:
    """Rebuild the final message from a Messages API SSE body, however much of it there is.

    ``tail`` is the end of a stream whose middle was not kept: only its closing
    events (usage, stop reason, errors) are applied, after the head's.
    """
    asm = _StreamAssembler()
    for payload in _payloads(body, asm):
        if isinstance(payload, tuple):
            asm.text_deltas(*payload)
        else:
            asm.feed(payload)
    if tail:
        asm.problems.append("the middle of the stream was not kept")
        for payload in _payloads(after_first_boundary(tail), asm):
            if isinstance(payload, dict) and payload.get("type") in _CLOSING_EVENTS:
                asm.feed(payload)
    return asm.result()


def read_answer(body: bytes) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """A non-streamed response body's (message, error, problem): what `assemble_json` keeps,
    without building an `Assembled` (the log writer reads one per exchange)."""
    try:
        payload = jiter.from_json(body)
    except ValueError:
        return None, None, "response body is not JSON"
    if not isinstance(payload, dict):
        return None, None, "response body is not a JSON object"
    kind = payload.get("type")
    if kind == "error":
        return None, _error_text(payload) or "error", None
    return (payload if kind == "message" else None), None, None


def assemble_json(body: bytes | str) -> Assembled:
    """Read a non-streamed response: a message, an error document, or neither."""
    message, error, problem = read_answer(body if isinstance(body, bytes) else body.encode("utf-8"))
    if problem is not None:
        return Assembled(problems=[problem])
    return Assembled(message=message, error=error, complete=True)


def assemble(body: bytes, *, stream: bool | None = None, tail: bytes = b"") -> Assembled:
    """Assemble a response body; ``stream=None`` sniffs SSE from the first bytes."""
    if not body:
        return Assembled(problems=["empty response body"])
    if stream is None:
        stream = looks_like_sse(body)
    return assemble_stream(body, tail=tail) if stream else assemble_json(body)
