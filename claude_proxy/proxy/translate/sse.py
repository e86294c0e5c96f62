"""Server-sent events: an incremental parser for upstream bytes and the Anthropic encoder.

The parser takes bytes in any split (a UTF-8 character or a CRLF may straddle two
network chunks) and yields complete events, following the WHATWG event-stream rules:
``data:`` lines join with newlines, a blank line dispatches, ``:`` lines are comments.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any, Iterator

from claude_proxy.proxy.translate import jsonio


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event: its ``event:`` name (``message`` when absent) and its data."""

    event: str
    data: str


class SSEParser:
    """Feed bytes, get events; ``close()`` dispatches an event left without its blank line."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._event = ""
        self._data: list[str] = []
        self._first = True

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Events completed by ``data``."""
        return list(self._lines(self._decoder.decode(data)))

    def close(self) -> list[SSEEvent]:
        """Events still pending at end of input (a last line without a newline included)."""
        text = self._decoder.decode(b"", final=True)
        events = list(self._lines(text))
        if self._buffer:
            line, self._buffer = self._buffer, ""
            event = self._line(line.rstrip("\r"))
            if event:
                events.append(event)
        if self._data:
            events.append(self._dispatch())
        return events

    def _lines(self, text: str) -> Iterator[SSEEvent]:
        if self._first and text:
            text = text.lstrip("\ufeff")
            self._first = not text
        buffer = self._buffer + text
        start = 0
        length = len(buffer)
        while True:
            cut = _next_break(buffer, start)
            if cut < 0:
                break
            end = cut
            if buffer[cut] == "\r":
                if cut + 1 == length:
                    break  # a CR at the end may be the first half of CRLF: wait for more
                next_start = cut + 2 if buffer[cut + 1] == "\n" else cut + 1
            else:
                next_start = cut + 1
            event = self._line(buffer[start:end])
            start = next_start
            if event:
                yield event
        self._buffer = buffer[start:]

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            if self._data:
                return self._dispatch()
            self._reset()
            return None
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def _reset(self) -> None:
        self._event = ""
        return None

    def _dispatch(self) -> SSEEvent:
        event = SSEEvent(self._event or "message", "\n".join(self._data))
        self._event = ""
        self._data = []
        return event


def _next_break(text: str, start: int) -> int:
    lf = text.find("\n", start)
    cr = text.find("\r", start)
    if cr < 0:
        return lf
    if lf < 0:
        return cr
    return min(cr, lf)


def encode_event(payload: dict[str, Any]) -> bytes:
    """One Anthropic SSE frame: ``event: <type>`` then the compact JSON ``data:`` line."""
    data = jsonio.dumps_text(payload)
    return f"event: {payload['type']}\ndata: {data}\n\n".encode("utf-8")


PING = encode_event({"type": "ping"})
