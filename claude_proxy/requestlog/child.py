"""The request-log writer process: ``python -m claude_proxy.requestlog.child '<json options>'``.

Started by `ProcessRequestLog` (logprocess.py), never by hand. It runs an ordinary
thread-based `SqliteRequestLog` (`PostgresRequestLog` for a ``postgresql://`` URL: row
building, batching, lock waits and migrations stay in one place) and feeds it the
entries the proxy writes to its stdin (`logwire` frames).
It reports ``ready`` or the reason the file cannot be opened, then its counters every
`STATUS_SECONDS` while they change, and forwards its log records to the proxy's
logging. While its queue is full it stops reading, so the pipe fills and the proxy's
own queue takes the rest: entries are dropped (and counted) only there. When stdin
ends (the proxy is closing the log, or died) it writes everything it received,
reports its final counters and exits 0; it gives that drain ``drain_timeout`` seconds,
then exits anyway, so a full disk cannot keep it alive. The same happens when its parent
dies (checked every `WATCH_SECONDS`), even if something else still holds the pipe.

At start it checks that the file can really be written (`filecheck`), and refuses
otherwise. It keeps the file's identity: when the file is deleted or replaced, it
stops after the entries in hand and exits with `EXIT_REOPEN`, so its supervisor
starts a writer that opens the path anew.

SIGINT, SIGTERM and SIGHUP are ignored: the proxy decides when the writer stops, by
closing the pipe, so a Ctrl-C or a SIGTERM sent to every process cannot cost rows
that are already on their way. (The proxy also starts it in its own session.)
"""

from __future__ import annotations

import signal

# Before anything slow: a signal during start-up must not kill the writer either.
for _sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
    if _sig is not None:
        signal.signal(_sig, signal.SIG_IGN)

import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from claude_proxy.requestlog.childproc import EXIT_REOPEN  # noqa: E402
from claude_proxy.requestlog.entry import RequestLogError  # noqa: E402
from claude_proxy.requestlog.filecheck import FileIdentity, writable_problem  # noqa: E402
from claude_proxy.requestlog.wire import STATUS, WireError, pack_message, read_frames  # noqa: E402
from claude_proxy.requestlog.writer import SqliteRequestLog  # noqa: E402

STATUS_SECONDS = 0.1
WATCH_SECONDS = 1.0
READ_BUFFER = 1 << 20

logger = logging.getLogger("claude_proxy.requestlog.child")


class Channel:
    """The pipe back to the proxy: whole messages, from any thread."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()
        self.broken = False

    def send(self, *message: Any) -> None:
        data = memoryview(pack_message(message))
        with self._lock:
            if self.broken:
                return
            try:
                while data:
                    data = data[os.write(self.fd, data):]
            except OSError:  # the proxy is gone; the rows still get written
                self.broken = True


class ForwardHandler(logging.Handler):
    """Log records go to the proxy, which logs them as its own (same logger names)."""

    def __init__(self, channel: Channel) -> None:
        super().__init__()
        self.channel = channel
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.channel.send("log", record.levelno, record.name, self.format(record))
        except Exception:  # a record that cannot be formatted must not stop the writer
            self.handleError(record)


def status(log: SqliteRequestLog) -> tuple[Any, ...]:
    return tuple(getattr(log, name) for name in STATUS)


def _report(channel: Channel, log: SqliteRequestLog, stop: threading.Event, watch: Watch) -> None:
    last = None
    while not stop.wait(STATUS_SECONDS):
        now = status(log)
        if now != last:
            channel.send("status", *now)
            last = now
        watch.check()


class Watch:
    """The file's identity and the parent's life, checked every WATCH_SECONDS from the status thread."""

    def __init__(self, log: SqliteRequestLog, identity: FileIdentity | None, parent: int | None, drain: float,
                 channel: Channel) -> None:
        self.log = log
        self.identity = identity
        self.parent = parent
        self.drain = drain
        self.channel = channel
        self.reopen = threading.Event()
        self._next = time.monotonic() + WATCH_SECONDS

    def check(self) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + WATCH_SECONDS
        if self.identity is not None and not self.reopen.is_set():
            change = self.identity.change()
            if change is not None:
                logger.warning("request log file %s was %s while in use", self.identity.path, change)
                self.reopen.set()
        if self.parent is not None and os.getppid() != self.parent:
            # The proxy is gone but the pipe did not end (another process holds it): stop on our own.
            finish(self.log, self.drain, self.channel)
            os._exit(0)


def finish(log: SqliteRequestLog, drain: float, channel: Channel) -> None:
    """Write what is queued, for at most ``drain`` seconds, and report the final counters."""
    log.close(timeout=drain)
    channel.send("done", *status(log))


def main(argv: list[str]) -> int:
    options = json.loads(argv[1])
    # The pipes get private descriptors; a stray print goes to stderr, not into the protocol.
    inbound, outbound = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    channel = Channel(outbound)
    root = logging.getLogger()
    root.setLevel(int(options.get("log_level", logging.WARNING)))
    root.addHandler(ForwardHandler(channel))

    limits = {"bodies": options["bodies"], "max_body_bytes": options["max_body_bytes"],
              "queue_size": options["queue_size"], "batch_size": options["batch_size"],
              "busy_timeout": options["busy_timeout"]}
    log: SqliteRequestLog
    path = Path(options["path"])
    url = options.get("url")
    if url:
        from claude_proxy.requestlog.pglog import PostgresRequestLog

        log = PostgresRequestLog(url, **limits)
    else:
        log = SqliteRequestLog(path, **limits)
    log.max_age_days, log.max_size_mb = options.get("retention") or (None, None)
    try:
        if not url:
            problem = writable_problem(path) if path.parent.is_dir() else None  # before SQLite holds its locks
            if problem is not None:
                raise RequestLogError(f"cannot open the request log {path}: {problem}")
        log.start()
        identity = FileIdentity(path) if not url else None  # a database has no file to watch
    except (RequestLogError, OSError) as exc:
        channel.send("error", str(exc))
        return 1
    channel.send("ready")
    drain = float(options.get("drain_timeout", 10.0))
    watch = Watch(log, identity, options.get("parent"), drain, channel)
    stop = threading.Event()
    reporter = threading.Thread(target=_report, args=(channel, log, stop, watch), name="logwriter-status",
                                daemon=True)
    reporter.start()
    code = 0
    try:
        with open(inbound, "rb", buffering=READ_BUFFER) as stream:
            for entries in read_frames(stream):
                for entry in entries:
                    log.wait_for_room()  # a full queue stops the reading, never drops: the pipe holds the rest
                    log.record(entry)
                if watch.reopen.is_set():
                    code = EXIT_REOPEN  # the entries in hand go to the old file; the next writer opens the path
                    break
    except (WireError, ValueError, TypeError, EOFError) as exc:  # a frame this code cannot read: a bug
        logger.error("request log writer: unreadable data from the proxy (%s); writing what arrived, then stopping",
                     exc)
        code = 1
    stop.set()
    reporter.join()
    finish(log, drain, channel)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
