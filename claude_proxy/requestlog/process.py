"""The request log for ``serve``: rows are built and written by a child process.

Same interface as `RequestLog` (``record``, ``start``, ``close``, ``queue_depth``,
``healthy``, the counters), but the serving process only queues: ``record()``
appends the entry to a deque, and a feeder thread wakes every `GATHER_SECONDS` (or
once `WAKE_AT` entries wait), encodes what gathered (`logwire`: the small fields with
marshal, the bodies handed to ``writev`` uncopied) and writes it down a pipe to a
``python -m claude_proxy.requestlog.child`` child. The child parses, masks, assembles
and inserts, exactly as the thread-based log does (it runs one), and reports its
counters back on a second pipe so ``healthy`` and ``queue_depth`` stay truthful.

Lifetime: the child is started in its own session and ignores SIGINT/SIGTERM/SIGHUP,
so Ctrl-C or a signal to every process cannot cost rows already sent; ``close()``
sends what is queued, closes the child's stdin and waits for it to write the rest
and exit. If the proxy dies, even by SIGKILL, the pipe ends and the child writes what
it has and exits. If the child dies, the log turns unhealthy, logs one error, and
every entry from then on (plus those sent but not confirmed) counts as dropped; the
proxy keeps serving.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import claude_proxy
from claude_proxy.requestlog.config import LogConfig
from claude_proxy.requestlog.entry import LogEntry, RequestLogError
from claude_proxy.requestlog.wire import STATUS, frames, read_message, write_all

logger = logging.getLogger(__name__)

# The feeder sends what gathered this often, or as soon as WAKE_AT entries wait.
GATHER_SECONDS = 0.05
WAKE_AT = 512
# The child's stdin pipe is asked for this much room (Linux), so the feeder rarely waits.
PIPE_BYTES = 1 << 20
START_SECONDS = 30.0
_PACKAGE_ROOT = str(Path(claude_proxy.__file__).resolve().parent.parent)
_IDLE_STATUS = (0, 0, 0, None, 0, True)


class ProcessRequestLog(LogConfig):
    """The SQLite request log, built and written by a child process; ``record()`` only queues."""

    def __init__(self, path: Path, *, bodies: bool = True, max_body_bytes: int = 1 << 20,
                 queue_size: int = 10_000, batch_size: int = 200, busy_timeout: float = 10.0,
                 url: str | None = None) -> None:
        super().__init__(path, bodies=bodies, max_body_bytes=max_body_bytes, queue_size=queue_size,
                         batch_size=batch_size, busy_timeout=busy_timeout, url=url)
        self._pending: collections.deque[LogEntry] = collections.deque()
        self._wake = threading.Event()
        self._ready = threading.Event()
        self._close_lock = threading.Lock()
        self._closed = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._feeder: threading.Thread | None = None
        self._reader: threading.Thread | None = None
        self._start_error: str | None = None
        # What the child last reported, in logwire.STATUS order.
        self._status: tuple[Any, ...] = _IDLE_STATUS
        self._done = False
        self._died: str | None = None
        self._refused = 0    # dropped by record(): queue full, log closed or child gone
        self._discarded = 0  # taken from the queue but not deliverable (the child was gone)
        self._sent = 0       # delivered to the child's pipe
        self._in_hand = 0    # taken from the queue, being encoded and sent

    # --- the interface ----------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer process and wait until it has opened (and migrated) the file.

        Raises RequestLogError when the file cannot be opened or migrated, or the
        writer cannot start, so the caller can refuse to start rather than lose every row.
        """
        if self._proc is not None:
            return
        options = {"path": str(self.path), "url": self.url, "bodies": self.bodies,
                   "max_body_bytes": self.max_body_bytes,
                   "queue_size": self.queue_size, "batch_size": self.batch_size,
                   "busy_timeout": self.busy_timeout, "retention": [self.max_age_days, self.max_size_mb],
                   "log_level": logging.getLogger("claude_proxy").getEffectiveLevel()}
        env = dict(os.environ)
        # The child imports this very checkout, whatever is installed or the working directory is.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        try:
            if not sys.executable:
                raise OSError("sys.executable is unknown")
            proc = subprocess.Popen(
                [sys.executable, "-m", "claude_proxy.requestlog.child", json.dumps(options)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
                start_new_session=True)
        except OSError as exc:
            raise RequestLogError(f"cannot open the request log {self.target}: "
                                  f"cannot start the log writer process: {exc}") from None
        assert proc.stdin is not None
        _grow_pipe(proc.stdin.fileno())
        self._proc = proc
        self._reader = threading.Thread(target=self._read, name="claude-proxy-requestlog-status", daemon=True)
        self._reader.start()
        if not self._ready.wait(max(START_SECONDS, 3 * self.busy_timeout)):
            proc.kill()
            raise self._failed_start("the log writer process did not start in time")
        if self._start_error is not None or self._died is not None:
            raise self._failed_start(self._start_error)
        logger.debug("request log writer pid %d started for %s", proc.pid, self.target)
        self._feeder = threading.Thread(target=self._feed, name="claude-proxy-requestlog", daemon=True)
        self._feeder.start()

    def record(self, entry: LogEntry) -> None:
        """Queue an entry; never blocks, never raises, never serialises on the caller's thread.

        Past ``queue_size`` waiting entries, or once the writer process is gone,
        entries are dropped and counted, and the log reports itself unhealthy.
        """
        if self._closed or self._died is not None:
            self._refused += 1
            if self._closed:
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

        Blocking: call it in a thread from async code. With ``timeout``, gives up
        waiting after that long (the writer still finishes on its own).
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        if self._feeder is None:
            if self._pending:
                logger.warning("request log closed before start(); %d entries not written", len(self._pending))
            if self._proc is not None:  # started, but start() failed
                self._proc.kill()
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake.set()
        self._feeder.join(_left(deadline))
        if self._feeder.is_alive():
            logger.error("request log: %d entries still queued after %.1fs; giving up on them",
                         self.queue_depth, timeout or 0.0)
            return
        late = _drain(self._pending)  # recorded by another thread while close() began
        if late:
            self._refused += len(late)
            logger.warning("request log closed; %d entries recorded during close() not written", len(late))
        assert self._reader is not None
        self._reader.join(_left(deadline))
        if self._reader.is_alive():
            logger.error("request log: the writer process (pid %d) has %d entries left to write after %.1fs; "
                         "it finishes them on its own", self.pid or 0, self.queue_depth, timeout or 0.0)

    @property
    def queue_depth(self) -> int:
        """Entries recorded but not yet written (as of the writer's last report); 0 once it died."""
        if self._died is not None:
            return 0
        return len(self._pending) + self._in_hand + max(0, self._sent - self._settled())

    @property
    def healthy(self) -> bool:
        """False once the writer process died, its last batch failed, or entries are being dropped."""
        if self._died is not None:
            return False
        return bool(self._status[5]) and len(self._pending) < self.queue_size

    @property
    def written(self) -> int:
        return int(self._status[0])

    @property
    def lost(self) -> int:
        return int(self._status[2])

    @property
    def dropped(self) -> int:
        dropped = self._refused + self._discarded + int(self._status[1])
        if self._died is not None:
            # Still queued (about to be discarded), and sent but never confirmed: the writer
            # may or may not have written those before it died.
            dropped += len(self._pending) + self._in_hand + max(0, self._sent - self._settled())
        return dropped

    @property
    def last_error(self) -> str | None:
        return self._died or self._status[3]

    @property
    def pid(self) -> int | None:
        """The writer process's pid (None before start)."""
        return self._proc.pid if self._proc is not None else None

    # --- the threads --------------------------------------------------------------------------
    def _settled(self) -> int:
        written, dropped, lost = self._status[0], self._status[1], self._status[2]
        return int(written) + int(dropped) + int(lost)

    def _feed(self) -> None:
        """Every GATHER_SECONDS (or WAKE_AT entries): send what gathered; on close, the rest, then EOF."""
        assert self._proc is not None and self._proc.stdin is not None
        fd = self._proc.stdin.fileno()
        while True:
            self._wake.wait(GATHER_SECONDS)
            self._wake.clear()
            closing = self._closed
            batch = _drain(self._pending)
            if batch:
                self._send(fd, batch)
            if self._died is not None:
                self._discarded += len(_drain(self._pending))
                break
            if closing and not self._pending:
                break
        try:
            self._proc.stdin.close()  # the writer's EOF: it writes the rest and exits
        except OSError:
            pass

    def _send(self, fd: int, batch: list[LogEntry]) -> None:
        self._in_hand = len(batch)
        start = 0
        try:
            for count, buffers in frames(batch):
                if self._died is not None:
                    break
                write_all(fd, buffers)
                start += count
                self._sent += count
                self._in_hand -= count
        except OSError:
            pass  # the writer is gone; the status reader notices and says so
        except Exception:  # the feeder's edge: a bug in encoding must not stop the log
            logger.exception("request log could not send %d entries to its writer process", len(batch) - start)
        self._in_hand = 0
        self._discarded += len(batch) - start

    def _read(self) -> None:
        """The writer's messages: ready or its start error, counters, log records; then its exit."""
        assert self._proc is not None and self._proc.stdout is not None
        stream = self._proc.stdout
        try:
            while True:
                try:
                    message = read_message(stream)
                except (ValueError, EOFError, TypeError):  # a torn message: the writer is dying
                    message = None
                if message is None:
                    break
                try:
                    self._on_message(message)
                except Exception:  # this thread's edge: one odd message must not blind the log
                    logger.exception("request log: unexpected message from the writer process: %r", message[:1])
        finally:
            stream.close()
            code = self._proc.wait()
        if self._done and code == 0:
            return
        unwritten = len(self._pending) + self._in_hand + max(0, self._sent - self._settled())
        self._died = f"the request log writer process (pid {self._proc.pid}) exited with code {code}"
        if not self._ready.is_set() or self._start_error is not None:
            self._ready.set()  # start() reports it
            return
        self._wake.set()
        logger.error("%s; the log is unhealthy: the %d entries it had not written and every new one are "
                     "dropped (the proxy keeps serving)", self._died, unwritten)

    def _on_message(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "status" or kind == "done":
            if len(message) == len(STATUS) + 1:
                self._status = message[1:]
            self._done = kind == "done"
        elif kind == "log":
            _, level, name, text = message
            logging.getLogger(str(name)).log(int(level), "%s", text)
        elif kind == "ready":
            self._ready.set()
        elif kind == "error":
            self._start_error = str(message[1])
            self._ready.set()

    def _failed_start(self, reason: str | None) -> RequestLogError:
        assert self._proc is not None
        if self._reader is not None:
            self._reader.join(5)
        if reason is None:
            reason = f"the log writer process exited with code {self._proc.returncode}"
        if reason.startswith("cannot open the request log"):
            return RequestLogError(reason)
        return RequestLogError(f"cannot open the request log {self.target}: {reason}")


def _drain(pending: collections.deque[LogEntry]) -> list[LogEntry]:
    """Everything in ``pending`` (safe against appends from other threads meanwhile)."""
    batch = []
    try:
        while True:
            batch.append(pending.popleft())
    except IndexError:
        return batch


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _grow_pipe(fd: int) -> None:
    """Ask for a roomier pipe (Linux), so the feeder seldom waits for the writer to read."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass
