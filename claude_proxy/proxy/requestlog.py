"""The request log: every exchange becomes a SQLite row, written off the request path.

Interface contract (the proxy calls only this): build a `LogEntry` per exchange,
hand it to `RequestLog.record()` (never blocks), and `close()` at shutdown, which
drains the queue so nothing a completed request produced is lost.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path


def new_entry_id() -> str:
    """A short, time-ordered, unique id: shown to users and sent as ``x-claude-proxy-id``."""
    return f"{int(time.time() * 1000):x}{os.urandom(4).hex()}"


@dataclass
class LogEntry:
    """One exchange, as the proxy saw it. Bodies are raw bytes; the writer parses them later."""

    id: str
    started_at: float
    method: str
    path: str
    duration_ms: float | None = None
    ttfb_ms: float | None = None
    requested_model: str | None = None
    upstream_model: str | None = None
    stream: bool = False
    status: int | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)
    request_body: bytes = b""
    response_body: bytes = b""
    error: str | None = None
    route: str | None = None
    attempts: int = 1


class RequestLog:
    """Stub of the writer; the request-log work replaces it with the SQLite implementation."""

    def __init__(self, path: Path, *, bodies: bool = True, max_body_bytes: int = 1 << 20) -> None:
        self.path = Path(path)
        self.bodies = bodies
        self.max_body_bytes = max_body_bytes

    def start(self) -> None:
        """Open the database (running migrations) and start the writer thread."""

    def record(self, entry: LogEntry) -> None:
        """Queue an entry; never blocks the event loop."""

    def close(self, timeout: float | None = None) -> None:
        """Drain the queue and stop the writer (blocking: call it in a thread from async code)."""

    @property
    def queue_depth(self) -> int:
        return 0

    @property
    def healthy(self) -> bool:
        return True
