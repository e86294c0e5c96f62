"""Driving an interactive CLI in a real pseudo-terminal (pexpect), reading past ANSI codes."""

from __future__ import annotations

import re
import time

import pexpect

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\r|\x08")


class Terminal:
    """A spawned program; `expect(text)` waits for ``text`` in the output with escape codes removed."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str, timeout: float = 20) -> None:
        self.child = pexpect.spawn(argv[0], argv[1:], env=env, cwd=cwd, encoding="utf-8",
                                   timeout=timeout, dimensions=(40, 120))
        self.timeout = timeout
        self.seen = ""
        self._raw = ""

    def expect(self, text: str, timeout: float | None = None) -> str:
        """Wait until ``text`` shows after what earlier expects consumed; return the output up to it."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            clean = ANSI.sub("", self._raw)
            index = clean.find(text)
            if index >= 0:
                before = clean[:index]
                self._raw = clean[index + len(text):]
                self.seen += before + text
                return before
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not shown; screen so far:\n{self.seen}{clean}")
            try:
                self._raw += self.child.read_nonblocking(4096, timeout=0.2)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                if text not in ANSI.sub("", self._raw):
                    raise AssertionError(f"{text!r} not shown before exit; screen:\n{self.seen}{clean}") from None

    def expect_prompt(self) -> None:
        """Wait for the input prompt to be drawn (keys like Ctrl-D only work once it is)."""
        self.expect("\n>")

    def send_line(self, text: str) -> None:
        self.child.send(text + "\r")

    def interrupt(self) -> None:
        self.child.sendintr()

    def wait_exit(self, timeout: float = 20) -> int:
        self.child.expect(pexpect.EOF, timeout=timeout)
        self.child.close()
        return self.child.exitstatus if self.child.exitstatus is not None else -(self.child.signalstatus or 0)

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)
