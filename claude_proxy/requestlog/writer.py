"""The request log: every exchange becomes a SQLite row, written off the request path.

Interface contract (the proxy calls only this): build a `LogEntry` per exchange,
hand it to `SqliteRequestLog.record()` (never blocks), and `close()` at shutdown, which
drains the queue so nothing a completed request produced is lost.

Behind it: a queue feeding one writer thread that splits each request
once (``store.writing.read_request``), builds the row (``row``: parsed, masked, cut),
prepares its content (``store``), then inserts a batch per transaction into a WAL-mode
SQLite file whose schema is migrated by version (``schema``). Several processes
(``serve --workers``) can write the same file: each takes the write lock per
batch with ``BEGIN IMMEDIATE`` and waits for the others through busy_timeout.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from claude_proxy.requestlog.config import LogConfig
from claude_proxy.requestlog.entry import LogEntry, RequestLogError
from claude_proxy.requestlog.row import COLUMNS, Decoded, fallback_row, row_values
from claude_proxy.requestlog.schema import bind_none_directly, connect, migrate
from claude_proxy.requestlog.store.pieces import Split
from claude_proxy.requestlog.store.retention import keep_pruning
from claude_proxy.requestlog.store.writing import Prepared, SqliteStoreWriter

logger = logging.getLogger(__name__)

_STOP = object()
# How long the writer waits after the first queued entry so that the rest of a busy
# moment joins its transaction.
GATHER_SECONDS = 0.05
# Tries per batch for errors other than another process holding the lock (a full disk, an
# I/O error): one more try after a pause, then the batch is lost as a whole, counted. A lock
# is waited out for as long as it lasts (the queue keeps filling, and healthy says so).
WRITE_TRIES = 2
RETRY_PAUSE = 0.25
# What inserting a row can raise: the database's errors, and values SQLite cannot bind (an integer
# past 64 bits, a string with a lone surrogate); either must cost that row, never the writer.
_UNWRITABLE = (sqlite3.Error, OverflowError, UnicodeError)


class SqliteRequestLog(LogConfig):
    """The SQLite request log: ``record()`` queues, a writer thread inserts in batches."""

    def __init__(self, path: Path, *, bodies: bool = True, max_body_bytes: int = 1 << 20,
                 queue_size: int = 10_000, batch_size: int = 200, busy_timeout: float = 10.0,
                 url: str | None = None) -> None:
        super().__init__(path, bodies=bodies, max_body_bytes=max_body_bytes, queue_size=queue_size,
                         batch_size=batch_size, busy_timeout=busy_timeout, url=url)
        self.written = 0
        self.dropped = 0
        self.lost = 0
        self.last_error: str | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._close_lock = threading.Lock()
        self._store = SqliteStoreWriter()
        self._stop_pruning = threading.Event()
        self._pruner: threading.Thread | None = None
        self.retention_first = 10.0  # seconds after start of the first prune (log.retention), then hourly

    def start(self) -> None:
        """Open the database (running migrations) and start the writer thread.

        Raises RequestLogError when the file cannot be opened or migrated, so
        the caller can refuse to start rather than lose every row silently.
        """
        if self._thread is not None:
            return
        bind_none_directly()
        try:
            self._conn = connect(self.path, busy_timeout=self.busy_timeout)
            version = migrate(self._conn)
        except (sqlite3.Error, OSError) as exc:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            raise RequestLogError(f"cannot open the request log {self.path}: {exc}") from None
        logger.debug("request log %s open at schema version %d", self.path, version)
        self._thread = threading.Thread(target=self._run, name="claude-proxy-requestlog", daemon=True)
        self._thread.start()
        if self.max_age_days is not None or self.max_size_mb is not None:
            self._pruner = threading.Thread(
                target=keep_pruning, args=(self.path, self.max_age_days, self.max_size_mb, self._stop_pruning),
                kwargs={"first": self.retention_first, "busy_timeout": self.busy_timeout},
                name="claude-proxy-requestlog-retention", daemon=True)
            self._pruner.start()

    def record(self, entry: LogEntry) -> None:
        """Queue an entry; never blocks the event loop.

        Past ``queue_size`` waiting entries (a writer that cannot keep up or a
        disk that stopped answering) entries are dropped and counted, and the
        log reports itself unhealthy, rather than growing memory without end.
        """
        if self._closed:
            self.dropped += 1
            logger.warning("request log is closed; entry %s not recorded", entry.id)
            return
        if self._queue.qsize() >= self.queue_size:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.error("request log queue full (%d entries); %d dropped so far",
                             self.queue_size, self.dropped)
            return
        self._queue.put(entry)

    def wait_for_room(self, poll: float = 0.01) -> None:
        """Block while the queue is full and the writer is working through it.

        For a caller that can wait instead of having entries dropped: the writer
        process, which then stops reading its pipe, so the proxy is the one place
        where entries are dropped (and counted).
        """
        while (self._queue.qsize() >= self.queue_size and self._thread is not None
               and self._thread.is_alive()):
            time.sleep(poll)

    def close(self, timeout: float | None = None) -> None:
        """Drain the queue and stop the writer (blocking: call it in a thread from async code)."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._stop_pruning.set()
        if self._pruner is not None:
            self._pruner.join(timeout)
        if self._thread is None:
            if not self._queue.empty():
                logger.warning("request log closed before start(); %d entries not written",
                               self._queue.qsize())
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error("request log: %d entries still queued after %.1fs; giving up on them",
                         self.queue_depth, timeout or 0.0)
            return
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def queue_depth(self) -> int:
        """Entries recorded but not yet written."""
        return self._queue.qsize()

    @property
    def healthy(self) -> bool:
        """False once the writer died, the last batch failed, or entries are being dropped."""
        if self._thread is not None and not self._thread.is_alive() and not self._closed:
            return False
        return self.last_error is None and self._queue.qsize() < self.queue_size

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            if batch[0] is not _STOP and self._queue.qsize() < self.batch_size:
                # Let a batch gather: one wake-up (and one GIL hand-off) per interval, not per request.
                time.sleep(GATHER_SECONDS)
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = any(item is _STOP for item in batch)
            entries = [item for item in batch if item is not _STOP]
            if stopping:
                # Whatever raced in after close() still gets written.
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not _STOP:
                        entries.append(item)
            for start in range(0, len(entries), self.batch_size):
                self._write(entries[start:start + self.batch_size])

    def _prepare(self, entries: list[LogEntry]) -> list[Prepared]:
        """Rows with their content split, named and compressed: the costly part, before any lock.

        Each request body is split once (as bytes), for both its row's columns and its content.
        """
        prepared = []
        for entry in entries:
            read = self._read(entry)
            try:
                row = row_values(entry, bodies=self.bodies, max_body_bytes=self.max_body_bytes,
                                 decoded=read[0] if read else None)
            except Exception as exc:  # the writer thread's edge: one bad entry must not stop the log
                logger.exception("request log could not process entry %s", entry.id)
                fallback = fallback_row(entry, f"{type(exc).__name__}: {exc}")
                row, read = tuple(fallback[c] for c in COLUMNS), None
            try:
                prepared.append(self._store.prepare(entry, row, read))
            except Exception:  # the writer thread's edge: a body the store cannot split is kept whole
                logger.exception("request log could not store entry %s by content", entry.id)
                prepared.append(self._store.fallback(row))
        return prepared

    def _read(self, entry: LogEntry) -> tuple[Decoded, Split] | None:
        if not self.bodies:
            return None
        try:
            return self._store.read_request(entry)
        except Exception:  # the writer thread's edge: the row is still made, the slow way
            logger.exception("request log could not read the request of entry %s", entry.id)
            return None

    def _write(self, entries: list[LogEntry]) -> None:
        rows = self._prepare(entries)
        failed = self._insert(rows)
        if failed is None:
            return
        if len(rows) > 1 and not isinstance(failed, sqlite3.OperationalError):
            # One row the database refuses must not take its batch-mates down with it (no pauses:
            # a value SQLite cannot bind fails at once, every time).
            logger.warning("request log batch of %d failed; writing its rows one by one", len(rows))
            for row in rows:
                self._insert([row], tries=1)
        elif len(rows) > 1:  # the file cannot be written (full disk, I/O error): the whole batch is lost
            self.lost += len(rows)
            logger.error("request log lost a batch of %d entries: %s", len(rows), self.last_error)

    def _insert(self, rows: list[Prepared], tries: int = WRITE_TRIES) -> BaseException | None:
        """Insert rows in one transaction; None once written, else the error (a single row counts as lost)."""
        assert self._conn is not None
        failures = 0
        error: BaseException | None = None
        while True:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._store.begin(self._conn)
                for row in rows:
                    self._store.insert(self._conn, row)
                self._conn.execute("COMMIT")
            except _UNWRITABLE as exc:
                self._store.rolled_back()
                if self._conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                failures += 1
                error = exc
                self.last_error = f"{type(exc).__name__}: {exc}"
                busy = "locked" in str(exc) or "busy" in str(exc)
                transient = isinstance(exc, sqlite3.OperationalError)  # I/O, full disk: worth another try
                if not busy and (failures >= tries or not transient):
                    break
                if failures == 1 or failures % 10 == 0:
                    logger.warning("request log write failed (try %d): %s", failures, exc)
                time.sleep(min(2.0, 0.05 * 2 ** failures) if busy else RETRY_PAUSE)
                continue
            self.written += len(rows)
            self.last_error = None
            return None
        if len(rows) == 1:
            self.lost += 1
            logger.error("request log lost entry %s: %s", rows[0].values[0], self.last_error)
        return error
