"""The request log for ``serve``: rows are built and written by a supervised child process.

Same interface as `RequestLog` (``record``, ``start``, ``close``, ``queue_depth``,
``healthy``, the counters), but the serving process only queues: ``record()``
appends the entry to a bounded deque (``queue_size``), and a feeder thread wakes every
`GATHER_SECONDS` (or once `WAKE_AT` entries wait), encodes what gathered (``wire``)
and writes it down a pipe to a `childproc.WriterChild` (``python -m
claude_proxy.requestlog.child``), which parses, masks, assembles and inserts, and
reports its counters back so ``healthy`` and ``queue_depth`` stay truthful.

Supervision: if the child dies (a crash, ``kill -9``, a SIGBUS), the log turns
unhealthy, logs one error, and the feeder starts a new child at once, then after
1, 2, 5 s while starting fails. Entries keep waiting in the deque meanwhile (past
``queue_size`` new ones are dropped and counted), so what is lost is what the dead
child held: entries it had received but not yet written (its pipe and queue). A
child that finds its file deleted or replaced exits with `EXIT_REOPEN` and the next
one creates the file anew.

Lifetime: the child runs in its own session and ignores SIGINT/SIGTERM/SIGHUP, so a
signal to every process cannot cost rows already sent; ``close(timeout)`` sends what
is queued, ends the child's input and waits up to ``timeout`` (``log.drain_timeout``)
for it to write the rest; then it kills the child and reports how many entries could
not be written. If the proxy dies, even by SIGKILL, the pipe ends and the child writes
what it has, for at most the same drain time, and exits.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claude_proxy.requestlog.childproc import EXIT_REOPEN, WriterChild, describe_exit
from claude_proxy.requestlog.config import LogConfig
from claude_proxy.requestlog.entry import LogEntry
from claude_proxy.requestlog.wire import frames, write_all

if TYPE_CHECKING:
    from claude_proxy.settings import LogSettings

logger = logging.getLogger(__name__)

# The feeder sends what gathered this often, or as soon as WAKE_AT entries wait.
GATHER_SECONDS = 0.05
WAKE_AT = 512
START_SECONDS = 30.0
# Seconds before each new try at starting a writer after one died (the last one repeats).
RESTART_DELAYS = (0.0, 1.0, 2.0, 5.0)
DRAIN_SECONDS = 10.0


class ProcessRequestLog(LogConfig):
    """The request log (SQLite, or Postgres for a URL) written by a supervised child; ``record()`` only queues."""

    def __init__(self, path: Path, *, bodies: bool = True, max_body_bytes: int = 1 << 20,
                 queue_size: int = 10_000, batch_size: int = 200, busy_timeout: float = 10.0,
                 drain_timeout: float = DRAIN_SECONDS, url: str | None = None) -> None:
        super().__init__(path, bodies=bodies, max_body_bytes=max_body_bytes, queue_size=queue_size,
                         batch_size=batch_size, busy_timeout=busy_timeout, url=url)
        self.drain_timeout = drain_timeout
        self._pending: collections.deque[LogEntry] = collections.deque()
        self._wake = threading.Event()
        self._close_lock = threading.Lock()
        self._closed = False
        self._child: WriterChild | None = None
        self._feeder: threading.Thread | None = None
        self._down: str | None = None  # why no writer is running, while one is being restarted
        self._restarts = 0  # failed starts in a row, for the backoff
        self._restart_at = 0.0
        self._ended = [0, 0, 0]  # written, dropped, lost, as reported by writers that have ended
        self._refused = 0    # dropped by record(): queue full or log closed
        self._discarded = 0  # sent to a writer that died before writing them, or left at close
        self._in_hand = 0    # taken from the queue, being encoded and sent
        self.unwritten = 0   # entries left when close() ran out of time

    @classmethod
    def from_settings(cls, settings: LogSettings, path: Path | None = None) -> ProcessRequestLog:
        """From the ``log:`` settings section, ``drain_timeout`` included."""
        log = super().from_settings(settings, path)
        log.drain_timeout = settings.drain_timeout
        return log

    # --- the interface ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer process and wait until it has opened (and migrated) the file.

        Raises RequestLogError when the file cannot be opened, migrated or written, or
        the writer cannot start, so the caller can refuse to start rather than lose every row.
        """
        if self._child is not None:
            return
        self._child = self._spawn()
        self._feeder = threading.Thread(target=self._feed, name="claude-proxy-requestlog", daemon=True)
        self._feeder.start()

    def record(self, entry: LogEntry) -> None:
        """Queue an entry; never blocks, never raises, never serialises on the caller's thread.

        Past ``queue_size`` waiting entries (a writer that cannot keep up, or is being
        restarted), entries are dropped and counted, and the log reports itself unhealthy.
        """
        if self._closed:
            self._refused += 1
            logger.warning("request log is closed; entry %s not recorded", entry.id)
            return
        pending = self._pending
        if len(pending) >= self.queue_size:
            self._refused += 1
            if self._refused == 1 or self._refused % 1000 == 0:
                logger.error("request log queue full (%d entries); %d dropped so far",
                             self.queue_size, self._refused)
            return
        pending.append(entry)
        if len(pending) == WAKE_AT:
            self._wake.set()

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued, then wait until the writer has written everything and exited.

        Blocking: call it in a thread from async code. After ``timeout`` (default
        ``drain_timeout``) the writer is stopped and what it had not written is counted
        in ``unwritten`` and reported.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        if self._feeder is None:
            if self._pending:
                self.unwritten = len(self._pending)
                logger.warning("request log closed before start(); %d entries not written", self.unwritten)
            return
        deadline = time.monotonic() + (self.drain_timeout if timeout is None else timeout)
        self._wake.set()
        self._feeder.join(_left(deadline))
        child = self._child
        if child is not None and not child.wait(_left(deadline)):
            child.kill()  # out of time (a full disk, a lock that never ends): it must not outlive us
            child.wait(5)
        self._feeder.join(5)
        left = len(self._pending) + self._in_hand + (child.unconfirmed if child is not None else 0)
        if left:
            self.unwritten = left
            self._discarded += left
            self._pending.clear()
        missing = self.dropped + self.lost
        if self.unwritten:
            logger.error("request log: %d entries could not be written within log.drain_timeout (%gs); "
                         "%d lost in all", self.unwritten, _seconds(timeout, self.drain_timeout), missing)
        elif missing:
            logger.warning("request log: %d entries could not be written in all", missing)

    @property
    def queue_depth(self) -> int:
        """Entries recorded but not yet written (as of the writer's last report)."""
        child = self._child
        unconfirmed = child.unconfirmed if child is not None and child.alive else 0
        return len(self._pending) + self._in_hand + unconfirmed

    @property
    def healthy(self) -> bool:
        """False while no writer runs, when its last batch failed, or entries are being dropped."""
        if self._down is not None:
            return False
        child = self._child
        writing = bool(child.status[5]) if child is not None else True
        return writing and len(self._pending) < self.queue_size

    @property
    def written(self) -> int:
        return self._ended[0] + self._current(0)

    @property
    def lost(self) -> int:
        return self._ended[2] + self._current(2)

    @property
    def dropped(self) -> int:
        return self._refused + self._discarded + self._ended[1] + self._current(1)

    @property
    def last_error(self) -> str | None:
        child = self._child
        return self._down or (child.status[3] if child is not None else None)

    @property
    def pid(self) -> int | None:
        """The current writer process's pid (None before start)."""
        return self._child.pid if self._child is not None else None

    # --- supervision ---------------------------------------------------------------------------
    def _options(self) -> dict[str, Any]:
        return {"path": str(self.path), "url": self.url, "target": self.target, "bodies": self.bodies,
                "max_body_bytes": self.max_body_bytes, "queue_size": self.queue_size, "batch_size": self.batch_size,
                "busy_timeout": self.busy_timeout, "drain_timeout": self.drain_timeout, "parent": os.getpid(),
                "retention": [self.max_age_days, self.max_size_mb],
                "log_level": logging.getLogger("claude_proxy").getEffectiveLevel()}

    def _spawn(self) -> WriterChild:
        child = WriterChild(self._options(), self._on_exit)
        child.start(max(START_SECONDS, 3 * self.busy_timeout))
        return child

    def _current(self, index: int) -> int:
        child = self._child
        return int(child.status[index]) if child is not None else 0

    def _on_exit(self, child: WriterChild) -> None:
        """The status thread saw a writer exit: fine at close, else note it and let the feeder restart."""
        if child is not self._child or not child.ready or self._closed:
            return  # a writer that never started (start() reports it), or the end close() waits for
        for index in range(3):
            self._ended[index] += int(child.status[index])
        held = child.unconfirmed
        self._discarded += held
        self._child = None
        self._down = f"the request log writer process (pid {child.pid}) {describe_exit(child.exit_code)}"
        self._restart_at = time.monotonic()
        if child.exit_code == EXIT_REOPEN:
            logger.warning("request log file %s was deleted or replaced; a new writer process recreates it "
                           "(%d entries the old one held are lost)", self.path, held)
            _drop_stale_journal(self.path)
        else:
            logger.error("%s; restarting it: the %d entries it held are lost, new ones wait (up to %d)",
                         self._down, held, self.queue_size)
        self._wake.set()

    def _restart(self) -> None:
        """One try at starting a new writer; on failure the next try waits longer."""
        try:
            child = self._spawn()
        except Exception as exc:  # the feeder's edge: a failed start is retried, never fatal
            delay = RESTART_DELAYS[min(self._restarts + 1, len(RESTART_DELAYS) - 1)]
            if self._restarts == 0 or self._restarts % 10 == 0:
                logger.error("request log writer could not be restarted (%s); trying again in %gs", exc, delay)
            self._restarts += 1
            self._restart_at = time.monotonic() + delay
            return
        self._child = child
        self._down = None
        self._restarts = 0
        logger.warning("request log writer restarted (pid %d); %d entries waiting are being written",
                       child.pid or 0, len(self._pending))

    # --- the feeder thread ---------------------------------------------------------------------
    def _feed(self) -> None:
        """Every GATHER_SECONDS (or WAKE_AT entries): send what gathered; restart a dead writer; on close, EOF."""
        while True:
            self._wake.wait(GATHER_SECONDS)
            self._wake.clear()
            closing = self._closed
            child = self._child
            if child is None or not child.alive:
                if closing and (child is not None or self._restarts > 0):
                    return
                if closing or time.monotonic() >= self._restart_at:
                    self._restart()  # closing: one try, so what waits can still be written
                continue
            batch = _drain(self._pending)
            if batch:
                self._send(child, batch)
            if closing and not self._pending and child is self._child:
                child.end_input()  # the writer's EOF: it writes the rest and exits
                return

    def _send(self, child: WriterChild, batch: list[LogEntry]) -> None:
        self._in_hand = len(batch)
        start = 0
        try:
            for count, buffers in frames(batch):
                write_all(child.fd, buffers)
                start += count
                child.sent += count
                self._in_hand -= count
        except OSError:  # the writer is gone: what it did not get waits for the next one
            self._pending.extendleft(reversed(batch[start:]))
        except Exception:  # the feeder's edge: a bug in encoding must not stop the log
            logger.exception("request log could not send %d entries to its writer process", len(batch) - start)
            self._discarded += len(batch) - start
        self._in_hand = 0


def _drain(pending: collections.deque[LogEntry]) -> list[LogEntry]:
    """Everything in ``pending`` (safe against appends from other threads meanwhile)."""
    batch = []
    try:
        while True:
            batch.append(pending.popleft())
    except IndexError:
        return batch


def _drop_stale_journal(path: Path) -> None:
    """After the file was deleted, its leftover WAL must not be replayed into the new one."""
    if path.exists():
        return
    for suffix in ("-wal", "-shm", "-journal"):
        try:
            os.unlink(f"{path}{suffix}")
        except OSError:
            pass


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _seconds(timeout: float | None, default: float) -> float:
    return default if timeout is None else timeout
