"""Driving an interactive CLI in a real terminal emulator (tmux), reading the screen as the user sees it.

Unlike a raw pseudo-terminal stream, ``screen()`` is what the terminal shows after every
cursor movement and erase, so a test can tell a line drawn twice from a line redrawn in
place. Each `Tmux` runs its own tmux server on a private socket and kills it on close.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest


def need_tmux() -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")


class Tmux:
    """One program in a detached tmux session of ``width`` x ``height``."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, *, width: int = 120, height: int = 40,
                 socket_dir: Path) -> None:
        need_tmux()
        self.socket = str(socket_dir / f"tmux-{uuid.uuid4().hex[:8]}")
        command = " ".join(shlex.quote(a) for a in argv)
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        script = f"cd {shlex.quote(str(cwd))} && exec env -i {exports} {command}"
        self._tmux("new-session", "-d", "-x", str(width), "-y", str(height), "-s", "t", "sh", "-c", script)
        self._tmux("set-option", "-t", "t", "remain-on-exit", "on")

    def _tmux(self, *args: str) -> str:
        proc = subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=10)
        if proc.returncode != 0:
            raise AssertionError(f"tmux {args[0]} failed: {proc.stderr.strip()}")
        return proc.stdout

    def screen(self, history: bool = True) -> str:
        """The pane's text (wrapped lines joined), with the scrollback when ``history``."""
        args = ["capture-pane", "-p", "-J", "-t", "t"] + (["-S", "-2000"] if history else [])
        return self._tmux(*args).rstrip("\n")

    def wait_for(self, text: str, timeout: float = 20, history: bool = True) -> str:
        """Poll the screen until ``text`` is on it; return the screen."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen(history)
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on the screen:\n{screen}")
            time.sleep(0.05)

    def keys(self, *keys: str) -> None:
        """tmux key names (``Enter``, ``C-c``, ``Escape``) or literal text."""
        self._tmux("send-keys", "-t", "t", *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "t", "-l", text)

    def exited(self) -> bool:
        return self._tmux("display-message", "-p", "-t", "t", "#{pane_dead}").strip() == "1"

    def wait_exit(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while not self.exited():
            if time.monotonic() > deadline:
                raise AssertionError(f"the program did not exit:\n{self.screen()}")
            time.sleep(0.05)
        return int(self._tmux("display-message", "-p", "-t", "t", "#{pane_dead_status}").strip() or -1)

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True, timeout=10)
