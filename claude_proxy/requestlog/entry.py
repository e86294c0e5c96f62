"""One exchange as the proxy saw it, its id, and the interface every request log offers.

The proxy and the ``logs`` commands depend on this module alone: `LogEntry` is filled
while a request runs, and a `RequestLog` (the child-process log in ``process``, the
writer-thread log in ``writer``) takes it with ``record()``, which never blocks.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Protocol


def new_entry_id() -> str:
    """A short, time-ordered, unique id: shown to users and sent as ``x-claude-proxy-id``.

    `random` is reseeded in every forked worker, and unlike os.urandom costs no syscall per request.
    """
    return f"{int(time.time() * 1000):x}{random.getrandbits(32):08x}"


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
    # Every upstream try when there was more than one: [{"n", "target", "status" | "error", "wait_ms"}].
    attempt_log: list[dict[str, Any]] = field(default_factory=list)
    # When the proxy keeps only the first part of a long body: the real sizes, and the
    # last bytes of the response, so a long stream's closing usage and stop reason still get logged.
    request_size: int | None = None
    response_size: int | None = None
    response_tail: bytes = b""
    # (byte offset, ms since the request arrived) of each response chunk as it arrived (the first 4096)
    response_times: list[tuple[int, int]] = field(default_factory=list)


class RequestLogError(Exception):
    """The log file cannot be opened or migrated (raised by ``start()``)."""




class RequestLog(Protocol):
    """What the proxy needs of a request log: queue entries, report health, start and drain."""

    def start(self) -> None:
        """Open the store; raise `RequestLogError` when it cannot be written."""

    def record(self, entry: LogEntry) -> None:
        """Queue one exchange; never blocks, never raises for a full queue (it counts a drop)."""

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued (up to ``timeout``) and release the store."""

    @property
    def healthy(self) -> bool:
        """Whether entries are being written."""

    @property
    def queue_depth(self) -> int:
        """Entries accepted and not yet written."""
