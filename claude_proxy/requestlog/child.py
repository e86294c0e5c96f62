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
reports its final counters and exits 0.

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
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from claude_proxy.requestlog.entry import RequestLogError  # noqa: E402
from claude_proxy.requestlog.wire import STATUS, WireError, pack_message, read_frames  # noqa: E402
from claude_proxy.requestlog.writer import SqliteRequestLog  # noqa: E402

STATUS_SECONDS = 0.1
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


def _report(channel: Channel, log: SqliteRequestLog, stop: threading.Event) -> None:
    last = None
    while not stop.wait(STATUS_SECONDS):
        now = status(log)
        if now != last:
            channel.send("status", *now)
            last = now


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
    if options.get("url"):
        from claude_proxy.requestlog.pglog import PostgresRequestLog

        log = PostgresRequestLog(options["url"], **limits)
    else:
        log = SqliteRequestLog(Path(options["path"]), **limits)
    log.max_age_days, log.max_size_mb = options.get("retention") or (None, None)
    try:
        log.start()
    except RequestLogError as exc:
        channel.send("error", str(exc))
        return 1
    channel.send("ready")
    stop = threading.Event()
    reporter = threading.Thread(target=_report, args=(channel, log, stop), name="logwriter-status", daemon=True)
    reporter.start()
    code = 0
    try:
        with open(inbound, "rb", buffering=READ_BUFFER) as stream:
            for entries in read_frames(stream):
                for entry in entries:
                    log.wait_for_room()  # a full queue stops the reading, never drops: the pipe holds the rest
                    log.record(entry)
    except (WireError, ValueError, TypeError, EOFError) as exc:  # a frame this code cannot read: a bug
        logger.error("request log writer: unreadable data from the proxy (%s); writing what arrived, then stopping",
                     exc)
        code = 1
    log.close()
    stop.set()
    reporter.join()
    channel.send("done", *status(log))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
