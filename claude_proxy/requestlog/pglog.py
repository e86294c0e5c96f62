"""The request log on PostgreSQL (``log.url: postgresql://...``), for instances on several machines.

The same writer as the SQLite log (a queue, a thread, batches; see ``writer``), with
psycopg 3 underneath: each batch is one transaction of a few pipelined statements
(``pgwriting``). What differs is an outage. When the server cannot be reached the
batch is not given up after a few tries: it is retried, with a backoff up to
`MAX_BACKOFF`, on a fresh connection, until the server is back. Meanwhile entries wait
in the bounded queue (``log.queue_size``); once it is full the child stops reading its
pipe, and the proxy's own bounded queue takes the rest and counts what it drops. So a
Postgres outage costs nothing until both buffers are full, and then only counted rows;
``/health`` says degraded for as long as writes fail. Errors that are the row's own
(a value Postgres refuses) are handled as on SQLite: the batch is split and the bad row
counted lost.

Unlike SQLite's, the work is split over threads: the writer thread prepares a batch
(parsing, splitting, naming: the client's CPU) while `INSERTERS` insert threads, each on a
connection of its own, send the ones before it: while one waits for the server to index
its batch, the next is already being sent, so the server's work overlaps the client's.
Batches are threaded (``pgwriting``) in the order they were prepared, whichever thread sends
them. One prepared batch waits for a free insert thread at most; while an outage holds the
insert threads, the writer thread stops there and entries wait in the queue as before.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from typing import Any

from claude_proxy.requestlog.entry import LogEntry, RequestLogError
from claude_proxy.requestlog.store.pgschema import PgSchemaError, migrate
from claude_proxy.requestlog.store.pgwriting import PgStoreWriter
from claude_proxy.requestlog.store.writing import Prepared
from claude_proxy.requestlog.writer import SqliteRequestLog
from claude_proxy.secrets import mask_url, scrub_url_secrets

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5
INSERTERS = 2  # insert threads (and connections): one waits on the server while the other sends
MAX_BACKOFF = 2.0
ROW_TRIES = 3  # for errors that are not the connection's: a value or constraint Postgres refuses


class PostgresRequestLog(SqliteRequestLog):
    """``record()`` queues; a writer thread inserts batches into Postgres at ``url``."""

    def __init__(self, url: str, **options: Any) -> None:
        from pathlib import Path

        super().__init__(Path("/nonexistent-postgres-log"), url=url, **options)
        self.dsn = url
        self._connections: dict[int, Any] = {}  # by thread: each insert thread has its own
        self._pg_store = PgStoreWriter()
        self._store = self._pg_store  # prepare() skips compressing what this writer already stored
        self.drain_deadline: float | None = None
        self._handoff: queue.Queue[tuple[int, list[Prepared]] | None] = queue.Queue(maxsize=1)
        self._batches = 0  # batches handed over so far: the order they are threaded in
        self._in_flight = 0  # entries prepared and handed to the insert threads, not yet written or lost
        self._in_flight_lock = threading.Lock()  # several threads change it (and the counts)
        self._inserters: list[threading.Thread] = []

    def _connect(self) -> Any:
        import psycopg

        me = threading.get_ident()
        conn = self._connections.get(me)
        if conn is None or conn.closed:
            conn = self._connections[me] = psycopg.connect(self.dsn, connect_timeout=CONNECT_TIMEOUT,
                                                           autocommit=True, application_name="claude-proxy log")
        return conn

    def start(self) -> None:
        """Connect and migrate; an unreachable or foreign database refuses start-up with one line."""
        import psycopg

        if self._thread is not None:
            return
        try:
            migrate(self._connect())
        except (psycopg.Error, PgSchemaError, OSError) as exc:
            self._drop_connection()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RequestLogError(f"cannot open the request log at {mask_url(self.dsn)}: "
                                  f"{scrub_url_secrets(first, self.dsn)}") from None
        self._drop_connection()  # the migration's: the insert threads open their own
        self._inserters = [threading.Thread(target=self._insert_batches, name=f"claude-proxy-requestlog-pg-insert-{n}",
                                            daemon=True) for n in range(INSERTERS)]
        for inserter in self._inserters:
            inserter.start()
        self._thread = threading.Thread(target=self._run, name="claude-proxy-requestlog-pg", daemon=True)
        self._thread.start()
        if self.max_age_days is not None or self.max_size_mb is not None:
            self._pruner = threading.Thread(target=self._keep_pruning, name="claude-proxy-requestlog-retention",
                                            daemon=True)
            self._pruner.start()

    def _keep_pruning(self, every: float = 3600.0) -> None:
        """``log.retention`` on Postgres: first after `retention_first` seconds, then hourly, in short batches."""
        import psycopg

        from claude_proxy.requestlog.query import LogQueryError
        from claude_proxy.requestlog.store.pgretention import PostgresRetention

        wait = self.retention_first
        while not self._stop_pruning.wait(wait):
            wait = every
            try:
                retention = PostgresRetention(self.dsn)
                try:
                    result = retention.prune(max_age_days=self.max_age_days, max_size_mb=self.max_size_mb)
                finally:
                    retention.close()
            except (psycopg.Error, LogQueryError, OSError) as exc:
                logger.warning("request log retention on Postgres failed: %s", exc)
                continue
            if result.rows:
                logger.info("request log retention removed %d rows", result.rows)

    def _drop_connection(self, everyone: bool = False) -> None:
        """Close this thread's connection (``everyone``: every thread's, once they are done)."""
        found = (list(self._connections.values()) if everyone
                 else [c for c in [self._connections.get(threading.get_ident())] if c is not None])
        for conn in found:
            try:
                conn.close()
            except Exception:  # a broken connection may fail to close; it is gone either way
                pass
        if everyone:
            self._connections.clear()
        else:
            self._connections.pop(threading.get_ident(), None)

    def close(self, timeout: float | None = None) -> None:
        self.drain_deadline = time.monotonic() + (timeout if timeout is not None else 30.0)
        super().close(timeout)
        alive = [t for t in self._inserters if t.is_alive()]
        if alive and self._thread is not None and not self._thread.is_alive():
            for _ in alive:  # after the writer thread's last batch: the order holds
                left = None if timeout is None else max(0.1, self.drain_deadline - time.monotonic())
                with contextlib.suppress(queue.Full):
                    self._handoff.put(None, timeout=left)
        for inserter in alive:
            inserter.join(None if timeout is None else max(0.0, self.drain_deadline - time.monotonic()))
        if any(t.is_alive() for t in alive):
            logger.error("request log: %d entries still being written to Postgres after %.1fs; giving up "
                         "on them", self._in_flight, timeout or 0.0)
            return
        self._drop_connection(everyone=True)

    @property
    def queue_depth(self) -> int:
        """Entries recorded but not yet written (queued, or prepared and waiting for the server)."""
        return self._queue.qsize() + self._in_flight

    @property
    def healthy(self) -> bool:
        """As for SQLite, and false as well once an insert thread is gone while the log is open."""
        if self._inserters and not all(t.is_alive() for t in self._inserters) and not self._closed:
            return False
        return super().healthy

    def _write(self, entries: list[LogEntry]) -> None:
        """The writer thread's part: prepare the batch, then hand it over (waiting while one is in flight)."""
        rows = self._prepare(entries)
        with self._in_flight_lock:
            self._in_flight += len(rows)
        turn = self._batches
        self._batches += 1
        while True:
            try:
                self._handoff.put((turn, rows), timeout=1.0)
                return
            except queue.Full:
                if any(t.is_alive() for t in self._inserters):
                    continue  # the insert threads are busy (an outage, a slow server): wait with them
            self._pg_store.skip(turn)
            self._count(lost=len(rows), in_flight=-len(rows))
            logger.error("request log lost a batch of %d entries: the Postgres insert threads are gone", len(rows))
            return

    def _count(self, *, written: int = 0, lost: int = 0, in_flight: int = 0) -> None:
        with self._in_flight_lock:  # the insert threads and the writer thread all count
            self.written += written
            self.lost += lost
            self._in_flight += in_flight

    def _insert_batches(self) -> None:
        import psycopg

        with contextlib.suppress(psycopg.Error, OSError):  # now, not with the first batch; else then
            self._connect()
        while True:
            try:
                handed = self._handoff.get(timeout=0.5)
            except queue.Empty:
                if self._closed and (self._thread is None or not self._thread.is_alive()):
                    return  # closing, and no batch can come any more
                continue
            if handed is None:
                return
            turn, rows = handed
            try:
                self._write_prepared(rows, turn)
            except Exception:  # the insert thread's edge: a batch it cannot place is counted, never a dead thread
                logger.exception("request log lost a batch of %d entries", len(rows))
                self._count(lost=len(rows))
            finally:
                self._pg_store.skip(turn)  # placed or not, the next batch's turn has come
                self._count(in_flight=-len(rows))

    def _write_prepared(self, rows: list[Prepared], turn: int | None = None) -> None:
        failed = self._insert(rows, turn=turn)
        if failed is None or len(rows) == 1:
            return
        if _is_outage(failed):  # closing while the server is still down: the batch is lost, counted
            self._count(lost=len(rows))
            logger.error("request log lost a batch of %d entries: %s", len(rows), self.last_error)
            return
        # One row Postgres refuses must not take its batch-mates down with it.
        logger.warning("request log batch of %d failed; writing its rows one by one", len(rows))
        if turn is not None:
            self._pg_store.skip(turn)
        for row in rows:
            self._insert([row], tries=1)

    def _insert(self, rows: list[Prepared], tries: int = ROW_TRIES, turn: int | None = None) -> BaseException | None:
        """Insert rows in one transaction: None once written, else the error (a single row counts as lost).

        An outage is waited out (until the drain deadline once closing); an error that is the
        rows' own is tried ``tries`` times.
        """
        import psycopg

        failures = 0
        backoff = 0.05
        error: BaseException | None = None
        while True:
            try:
                conn = self._connect()
                with conn.transaction():
                    sent = self._pg_store.insert_batch(conn, rows, turn)
                self._pg_store.stored(sent)
            except (psycopg.OperationalError, psycopg.InterfaceError, OSError) as exc:
                self._pg_store.rolled_back()
                self._drop_connection()
                error = exc
                self.last_error = f"{type(exc).__name__}: {scrub_url_secrets(str(exc).strip(), self.dsn)[:300]}"
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    logger.warning("request log: Postgres at %s unreachable (%s); %d entries waiting, retrying",
                                   mask_url(self.dsn), self.last_error, self.queue_depth + len(rows))
                if self._closed and self._past_drain():
                    break
                time.sleep(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
                continue
            except (psycopg.Error, ValueError, OverflowError, UnicodeError) as exc:
                self._pg_store.rolled_back()
                error = exc
                self.last_error = f"{type(exc).__name__}: {scrub_url_secrets(str(exc).strip(), self.dsn)[:300]}"
                failures += 1
                if failures >= tries:
                    break
                continue
            if failures:
                logger.warning("request log: Postgres writes resumed after %d failed tries", failures)
            self._count(written=len(rows))
            self.last_error = None
            return None
        if len(rows) == 1:
            self._count(lost=1)
            logger.error("request log lost entry %s: %s", rows[0].values[0], self.last_error)
        return error

    def _past_drain(self) -> bool:
        """While closing, an outage is waited out only until the drain deadline."""
        return self.drain_deadline is None or time.monotonic() > self.drain_deadline


def _is_outage(error: BaseException) -> bool:
    import psycopg

    return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError, OSError))
