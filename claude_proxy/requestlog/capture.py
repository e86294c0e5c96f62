"""A bounded copy of a response body for the request log, kept while the bytes stream past.

The log gets the first ``cap`` bytes, the real size and, once past the cap, the last
`TAIL_BYTES` too, so a long stream's closing usage and stop reason are still known.
Memory stays bounded whatever the body's length; per chunk the work is a slice at most.
With a clock, each chunk's arrival is noted too (its byte offset and the milliseconds since
the request came in, the first `MAX_TIMES` chunks), so the viewer can put a stream's events
on a time line.
"""

from __future__ import annotations

import time

from claude_proxy.requestlog.entry import LogEntry

TAIL_BYTES = 8192
MAX_TIMES = 4096


class BodyCapture:
    def __init__(self, cap: int, started: float | None = None) -> None:
        self.cap = cap
        self.head = bytearray()
        self.tail = bytearray()
        self.size = 0
        self.last_bytes = b""
        self.started = started  # a time.perf_counter() reading: when set, chunk arrivals are noted
        self.times: list[tuple[int, int]] = []

    def add(self, chunk: bytes) -> None:
        if self.started is not None and len(self.times) < MAX_TIMES:
            self.times.append((self.size, round((time.perf_counter() - self.started) * 1000)))
        self.size += len(chunk)
        if self.size <= self.cap:
            self.head += chunk
        else:
            if len(self.head) < self.cap:
                self.head += chunk[: self.cap - len(self.head)]
            self.tail += chunk
            if len(self.tail) > 2 * TAIL_BYTES:
                del self.tail[:-TAIL_BYTES]
        self.last_bytes = chunk[-4:] if len(chunk) >= 4 else (self.last_bytes + chunk)[-4:]

    def fill(self, entry: LogEntry) -> None:
        """Hand what was kept to the log entry."""
        entry.response_body = bytes(self.head)
        entry.response_size = self.size
        entry.response_tail = bytes(self.tail[-TAIL_BYTES:])
        entry.response_times = self.times
