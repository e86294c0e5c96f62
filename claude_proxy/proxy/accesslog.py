"""The access log: one line per request, like nginx's, written in batches.

A line written the moment a request ends is a system call per request, and the logging
machinery's flush after every record makes it one even when stderr is a file. Like
nginx's ``access_log ... buffer=64k flush=1s``, the lines go through a 64 KB buffer of
their own (a duplicate of stderr's descriptor, so other logging is not delayed) that is
written out when full, at least every `FLUSH_SECONDS`, and when the server stops.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import IO

log = logging.getLogger(__name__)

LOGGER = "claude_proxy.access"
FLUSH_SECONDS = 1.0
BUFFER_BYTES = 64 * 1024


class BufferedHandler(logging.StreamHandler):
    """A stream handler that leaves flushing to its owner: the buffer fills, or the timer comes."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
        except Exception:  # logging's own contract: a failed line is reported, never raised
            self.handleError(record)


class AccessLog:
    """The ``claude_proxy.access`` logger with its buffered handler and the thread that flushes it."""

    def __init__(self, formatter: logging.Formatter | None = None, stream: IO[str] | None = None) -> None:
        self.logger = logging.getLogger(LOGGER)
        self._stream = stream or open(os.dup(sys.stderr.fileno()), "w", buffering=BUFFER_BYTES,  # noqa: SIM115
                                      encoding="utf-8", errors="backslashreplace")
        self.handler = BufferedHandler(self._stream)
        self.handler.setFormatter(formatter or _root_formatter())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> logging.Logger:
        """Route access lines through the buffer (not the root handlers) and start the flusher."""
        self.logger.addHandler(self.handler)
        self.logger.propagate = False
        self._thread = threading.Thread(target=self._flush_every, name="claude-proxy-access-log", daemon=True)
        self._thread.start()
        return self.logger

    def close(self) -> None:
        """Write out what is buffered and hand the logger back to the root handlers."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(FLUSH_SECONDS * 2)
        self.logger.removeHandler(self.handler)
        self.logger.propagate = True
        self.handler.flush()
        self.handler.close()
        try:
            self._stream.close()
        except OSError:
            pass

    def _flush_every(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.handler.flush()  # under the handler's lock: never in the middle of a line


def _root_formatter() -> logging.Formatter:
    """The format of the root handler (the one ``serve`` sets up), so access lines look as before."""
    for handler in logging.getLogger().handlers:
        if handler.formatter is not None:
            return handler.formatter
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


_lock = threading.Lock()
_shared: AccessLog | None = None
_users = 0


def acquire() -> logging.Logger:
    """The access logger, buffered for as long as one server of this process uses it."""
    global _shared, _users
    with _lock:
        _users += 1
        if _shared is None:
            try:
                _shared = AccessLog()
            except (OSError, ValueError, AttributeError) as exc:  # no stderr descriptor to write to
                log.debug("access lines unbuffered: %s", exc)
                return logging.getLogger(LOGGER)
            _shared.start()
        return _shared.logger


def release() -> None:
    """One server is done with it; the last one flushes and closes the buffer."""
    global _shared, _users
    with _lock:
        _users = max(0, _users - 1)
        if _users or _shared is None:
            return
        shared, _shared = _shared, None
    shared.close()
