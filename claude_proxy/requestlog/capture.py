"""A bounded copy of a response body for the request log, kept while the bytes stream past.

The log gets the first ``cap`` bytes, the real size and, once past the cap, the last
`TAIL_BYTES` too, so a long stream's closing usage and stop reason are still known.
Memory stays bounded whatever the body's length; per chunk the work is a slice at most.
"""

from __future__ import annotations

from claude_proxy.requestlog.entry import LogEntry

TAIL_BYTES = 8192


class BodyCapture:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.head = bytearray()
        self.tail = bytearray()
        self.size = 0
        self.last_bytes = b""

    def add(self, chunk: bytes) -> None:
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
