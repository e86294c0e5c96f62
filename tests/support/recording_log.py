"""An in-memory `SqliteRequestLog` for tests that check what the proxy hands to the log.

It keeps every `LogEntry` in ``entries`` instead of writing SQLite, and notes whether
``start()`` and ``close()`` were called. Tests of the SQLite writer use the real class.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from claude_proxy.requestlog.entry import LogEntry
from claude_proxy.requestlog.writer import SqliteRequestLog


class RecordingLog(SqliteRequestLog):
    def __init__(self, max_body_bytes: int = 1 << 20) -> None:
        super().__init__(Path("unused.db"), max_body_bytes=max_body_bytes)
        self.entries: list[LogEntry] = []
        self.started = False
        self.closed = False

    def start(self) -> None:
        self.started = True

    def record(self, entry: LogEntry) -> None:
        self.entries.append(entry)

    def close(self, timeout: float | None = None) -> None:
        self.closed = True

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[LogEntry]:
        """Wait until ``count`` entries were recorded (handlers record after the response ends)."""
        async def poll() -> None:
            while len(self.entries) < count:
                await asyncio.sleep(0.01)
        await asyncio.wait_for(poll(), timeout)
        return self.entries
