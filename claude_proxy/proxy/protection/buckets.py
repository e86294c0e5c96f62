"""Where rate-limit buckets live: this process's memory, or one SQLite file for a host.

``MemoryStore`` is the default, one per process. ``SqliteStore`` is shared by the
processes of one host:

Set ``limits.shared_state: /path/ratelimit.db`` and run several workers (or
proxies) on the same host: each admission is one short ``BEGIN IMMEDIATE``
transaction, run in a thread. The state is ephemeral, so the file trades
durability for speed (WAL, ``synchronous=OFF``). When the file cannot be used the
store raises `StoreUnavailable` and ``limits.on_store_error`` decides. Across
machines, ``redisbuckets`` keeps the same buckets in Redis.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

log = logging.getLogger(__name__)

MAX_BUCKETS = 10_000


class StoreUnavailable(Exception):
    """The shared bucket store could not be reached or used; the message says why."""


@dataclass
class Bucket:
    """One key's allowance of one kind: how much is left, as of when."""

    level: float
    stamp: float


class BucketStore(Protocol):
    """Where buckets live. ``transaction`` runs ``fn`` over the named buckets atomically."""

    blocking: bool

    def transaction(self, names: list[str], now: float,
                    fn: Callable[[dict[str, Bucket | None]], dict[str, Bucket]]) -> None: ...


class MemoryStore:
    """Buckets in this process's memory; old full buckets are forgotten past ``MAX_BUCKETS``."""

    blocking = False

    def __init__(self) -> None:
        self._buckets: dict[str, Bucket] = {}

    def transaction(self, names: list[str], now: float,
                    fn: Callable[[dict[str, Bucket | None]], dict[str, Bucket]]) -> None:
        updates = fn({name: self._buckets.get(name) for name in names})
        if len(self._buckets) + len(updates) > MAX_BUCKETS:
            # a bucket untouched for a minute is full again, unless a huge request left it in debt
            self._buckets = {k: b for k, b in self._buckets.items() if b.stamp > now - 60 or b.level < 0}
        self._buckets.update(updates)


_SCHEMA = "CREATE TABLE IF NOT EXISTS buckets (name TEXT PRIMARY KEY, level REAL NOT NULL, stamp REAL NOT NULL)"


class SqliteStore:
    """Buckets in a SQLite file, one transaction per admission."""

    blocking = True

    def __init__(self, path: Path, busy_timeout: float = 2.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute(_SCHEMA)
            self._conn = conn
        return self._conn

    def transaction(self, names: list[str], now: float,
                    fn: Callable[[dict[str, Bucket | None]], dict[str, Bucket]]) -> None:
        with self._lock:
            try:
                conn = self._connect()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    marks = ",".join("?" * len(names))
                    found = {name: Bucket(level, stamp) for name, level, stamp in conn.execute(
                        f"SELECT name, level, stamp FROM buckets WHERE name IN ({marks})", names)}
                    updates = fn({name: found.get(name) for name in names})
                    conn.executemany("INSERT OR REPLACE INTO buckets (name, level, stamp) VALUES (?, ?, ?)",
                                     [(name, b.level, b.stamp) for name, b in updates.items()])
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, OSError) as exc:
                raise StoreUnavailable(f"shared rate-limit state {self.path} unusable: {exc}") from None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
