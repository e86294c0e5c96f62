"""One request while the proxy answers it, and what the process as a whole is doing.

The protection middleware opens an `Exchange` for every ``/v1`` request and puts it on
the request under the typed key `EXCHANGE`; the handler and every stage under it fill
its `LogEntry`, and the middleware, which opened it, closes it: the metrics read it and
the request log receives it. One clock (``started``, monotonic) times the whole
exchange, so duration and time to first byte are measured the same way everywhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web
from multidict import CIMultiDict

from claude_proxy.requestlog.entry import LogEntry, new_entry_id


@dataclass
class Prepared:
    """A request ready to go upstream: what rewriting, routing and fallbacks adjust."""

    method: str
    path_qs: str
    headers: CIMultiDict[str]
    body: bytes


@dataclass
class Exchange:
    """One request's record: its log entry, its body, who sent it, and its clock."""

    entry: LogEntry
    body: bytes = b""
    client: str | None = None  # the access key's label, when keys are on
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def begin(cls, request: web.Request) -> "Exchange":
        entry = LogEntry(id=new_entry_id(), started_at=time.time(), method=request.method, path=request.raw_path)
        return cls(entry)

    def elapsed(self) -> float:
        """Seconds since the request arrived."""
        return time.perf_counter() - self.started

    def first_byte(self) -> None:
        """Note that the answer's first byte is going out now (only the first call counts)."""
        if self.entry.ttfb_ms is None:
            self.entry.ttfb_ms = self.elapsed() * 1000

    def finish(self) -> LogEntry:
        """Stamp the duration; the entry is complete."""
        self.entry.duration_ms = self.elapsed() * 1000
        return self.entry


@dataclass
class Activity:
    """What this process is doing: ``/v1`` requests under way (admitted, queued or being
    answered), and whether it is shutting down."""

    in_flight: int = 0
    stopping: bool = False


EXCHANGE: web.RequestKey[Exchange] = web.RequestKey("claude_proxy.exchange", Exchange)
