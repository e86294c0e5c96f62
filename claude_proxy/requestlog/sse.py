"""Splitting a logged ``text/event-stream`` body into events, for the request-log writer.

The WHATWG rules, applied line by line, cost a dozen Python operations per line; a
logged stream is thousands of lines. Here the body is split at blank lines first and
each block that is just ``event: NAME`` + ``data: JSON`` (or just ``data: ...``), which
is nearly every block an API sends, is read with one regex match. Every other block
takes the line-by-line rules. The events are the same either way: a blank line ends a
block and resets the event name, so blocks never share state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# One ``event:`` line then one ``data:`` line, or a lone ``data:`` line; a field's value
# loses one leading space, as the rules say.
_NAMED = re.compile(r"event: ?([^\n]*)\ndata: ?([^\n]*)")
_UNNAMED = re.compile(r"data: ?([^\n]*)")


@dataclass
class SSEEvent:
    """One server-sent event: its ``event:`` name (``message`` when absent) and joined ``data:`` lines."""

    event: str
    data: str


def _by_the_rules(block: str, events: list[tuple[str, str]]) -> None:
    """The event stream rules for the lines of one block (which may start with a blank line)."""
    name = ""
    lines: list[str] = []
    for line in block.split("\n"):
        if not line:
            if lines:
                events.append((name or "message", "\n".join(lines)))
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
        events.append((name or "message", "\n".join(lines)))


def sse_text(data: bytes | str) -> str:
    """A body as text with every line ending made LF, ready to split into blocks at blank lines."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, (bytes, bytearray)) else data
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def block_events(block: str, events: list[tuple[str, str]]) -> None:
    """Append the events of one block of `sse_text` (a piece between blank lines)."""
    match = _NAMED.fullmatch(block)
    if match is not None:
        events.append((match[1] or "message", match[2]))
        return
    match = _UNNAMED.fullmatch(block)
    if match is not None:
        events.append(("message", match[1]))
    elif block:
        _by_the_rules(block, events)


def sse_events(data: bytes | str) -> list[tuple[str, str]]:
    """``(event name, data)`` for each event of a ``text/event-stream`` body, per the WHATWG rules.

    Lines end in LF, CRLF or CR; ``:`` lines are comments; several ``data:`` lines
    join with LF; a blank line dispatches. A last event without its blank line (a
    cut-off stream) is still returned when it carries data.
    """
    events: list[tuple[str, str]] = []
    for block in sse_text(data).split("\n\n"):
        block_events(block, events)
    return events


def parse_sse(data: bytes | str) -> list[SSEEvent]:
    """:func:`sse_events` as `SSEEvent` objects."""
    return [SSEEvent(name, text) for name, text in sse_events(data)]


def looks_like_sse(body: bytes) -> bool:
    """True when a body starts like an event stream rather than a JSON document."""
    head = body[:64].lstrip()
    if len(head) < 16 and len(body) > 64:  # a long run of whitespace first: strip all of it
        head = body.lstrip()
    return head[:16].startswith((b"event:", b"data:", b":", b"id:", b"retry:"))


def after_first_boundary(tail: bytes) -> bytes:
    """Drop the partial event a tail starts in the middle of."""
    ends = [i + len(sep) for sep in (b"\n\n", b"\r\n\r\n", b"\r\r") if (i := tail.find(sep)) >= 0]
    return tail[min(ends):] if ends else b""
