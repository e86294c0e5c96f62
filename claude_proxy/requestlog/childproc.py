"""One run of the request-log writer child, as the serving process sees it.

`WriterChild` starts ``python -m claude_proxy.requestlog.child``, waits for its
``ready`` (or the reason the file cannot be used), reads its messages on a thread
(counters, forwarded log records, ``done``) and notices when it exits. It knows
nothing of queues or restarts: `process.ProcessRequestLog` feeds it and, when it
dies, starts the next one.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import claude_proxy
from claude_proxy.requestlog.entry import RequestLogError
from claude_proxy.requestlog.wire import STATUS, read_message

logger = logging.getLogger("claude_proxy.requestlog.process")

# The child's stdin pipe is asked for this much room (Linux), so the feeder rarely waits.
PIPE_BYTES = 1 << 20
# The child's exit code when its file was deleted or replaced: start a new one, which reopens it.
EXIT_REOPEN = 75
_PACKAGE_ROOT = str(Path(claude_proxy.__file__).resolve().parent.parent)
IDLE_STATUS: tuple[Any, ...] = (0, 0, 0, None, 0, True)


class WriterChild:
    """One writer process: its pipes, its last reported counters, and how it ended."""

    def __init__(self, options: dict[str, Any], on_exit: Callable[[WriterChild], None]) -> None:
        self.options = options
        self.on_exit = on_exit
        self.status: tuple[Any, ...] = IDLE_STATUS  # what it last reported, in wire.STATUS order
        self.sent = 0  # entries delivered to its pipe
        self.done = False  # it reported its final counters
        self.ready = False  # it opened the file and took entries
        self.exit_code: int | None = None
        self.start_error: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def fd(self) -> int:
        assert self.proc is not None and self.proc.stdin is not None
        return self.proc.stdin.fileno()

    @property
    def settled(self) -> int:
        """Entries it has written, dropped or lost (in the order they were sent)."""
        return int(self.status[0]) + int(self.status[1]) + int(self.status[2])

    @property
    def unconfirmed(self) -> int:
        return max(0, self.sent - self.settled)

    @property
    def alive(self) -> bool:
        return self.exit_code is None

    def start(self, wait: float) -> None:
        """Start it and wait until it has opened (and migrated) the file; RequestLogError if it cannot."""
        env = dict(os.environ)
        # The child imports this very checkout, whatever is installed or the working directory is.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        path = self.options.get("target") or self.options["path"]
        try:
            if not sys.executable:
                raise OSError("sys.executable is unknown")
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "claude_proxy.requestlog.child", json.dumps(self.options)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True, start_new_session=True)
        except OSError as exc:
            raise RequestLogError(f"cannot open the request log {path}: "
                                  f"cannot start the log writer process: {exc}") from None
        _grow_pipe(self.fd)
        self._reader = threading.Thread(target=self._read, name="claude-proxy-requestlog-status", daemon=True)
        self._reader.start()
        if not self._ready.wait(wait):
            self.kill()
            raise self._failed_start("the log writer process did not start in time")
        if self.start_error is not None or self.exit_code is not None:
            raise self._failed_start(self.start_error)
        logger.debug("request log writer pid %d started for %s", self.proc.pid, path)

    def end_input(self) -> None:
        """Close its stdin: it writes what it received and exits."""
        if self.proc is not None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def wait(self, timeout: float | None) -> bool:
        """Until its exit has been seen (True), or ``timeout``."""
        if self._reader is None:
            return True
        self._reader.join(timeout)
        return not self._reader.is_alive()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()

    def _read(self) -> None:
        """Its messages: ready or its start error, counters, log records; then its exit."""
        assert self.proc is not None and self.proc.stdout is not None
        stream = self.proc.stdout
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
            self.exit_code = self.proc.wait()
            self._ready.set()
            self.on_exit(self)

    def _on_message(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "status" or kind == "done":
            if len(message) == len(STATUS) + 1:
                self.status = message[1:]
            self.done = kind == "done"
        elif kind == "log":
            _, level, name, text = message
            logging.getLogger(str(name)).log(int(level), "%s", text)
        elif kind == "ready":
            self.ready = True
            self._ready.set()
        elif kind == "error":
            self.start_error = str(message[1])
            self._ready.set()

    def _failed_start(self, reason: str | None) -> RequestLogError:
        self.wait(5)
        if reason is None:
            reason = f"the log writer process exited with code {self.exit_code}"
        if reason.startswith("cannot open the request log"):
            return RequestLogError(reason)
        return RequestLogError(f"cannot open the request log {self.options.get('target') or self.options['path']}: "
                               f"{reason}")


def describe_exit(code: int | None) -> str:
    """``exited with code 1`` or ``was killed by SIGKILL``."""
    if code is not None and code < 0:
        import signal

        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _grow_pipe(fd: int) -> None:
    """Ask for a roomier pipe (Linux), so the feeder seldom waits for the writer to read."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass
