"""What moves on the screen while nothing else does: a spinner with elapsed time, retries, running tools.

One transient rich ``Live`` area at a time (rich allows one per console), redrawn by
rich's refresh thread from the state here, so the clock keeps ticking while the event
loop waits on the network or a tool. Lines printed meanwhile appear above it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.text import Text

FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


@dataclass
class _Running:
    label: str
    started: float


def elapsed(seconds: float) -> str:
    """``4.2s`` under a minute, ``1m05s`` above: short enough for a status line."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


class Progress:
    """The waiting line (before the first token, or while the client retries) and one line per running tool."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live: Live | None = None
        self.waiting_since: float | None = None
        self.retry: tuple[str, float] | None = None  # reason, when the next try starts
        self.tools: dict[str, _Running] = {}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self._lines(time.monotonic())

    def _lines(self, now: float) -> Iterator[Text]:
        frame = FRAMES[int(now * 10) % len(FRAMES)]
        if self.waiting_since is not None:
            waited = elapsed(now - self.waiting_since)
            line = Text(f"{frame} ", style="cyan") + Text(f"waiting for the model · {waited}", style="dim")
            if self.retry is not None:
                reason, at = self.retry
                wait = f"retrying in {elapsed(max(0.0, at - now))}" if at > now else "retrying now"
                line.append(f" · {reason}: {wait}", style="yellow")
            line.append(" · Ctrl-C to stop", style="dim")
            yield line
        for running in self.tools.values():
            yield Text(f"  {frame} ", style="cyan") + Text(f"{running.label} · {elapsed(now - running.started)}",
                                                            style="dim")

    def wait_started(self) -> None:
        self.waiting_since = time.monotonic()
        self.retry = None
        self._show()

    def retrying(self, reason: str, delay: float) -> None:
        if self.waiting_since is None:
            self.waiting_since = time.monotonic()
        self.retry = (reason, time.monotonic() + delay)
        self._show()

    def wait_over(self) -> None:
        self.waiting_since = None
        self.retry = None
        self._hide_if_idle()

    def tool_started(self, key: str, label: str) -> None:
        self.tools[key] = _Running(label, time.monotonic())
        self._show()

    def tool_done(self, key: str) -> float | None:
        """Stop the tool's timer; its running time, or None if it was not running."""
        running = self.tools.pop(key, None)
        self._hide_if_idle()
        return None if running is None else time.monotonic() - running.started

    def pause(self) -> None:
        """Take the area off the screen (a question is about to be asked); ``resume`` brings it back."""
        self._stop()

    def resume(self) -> None:
        if self.waiting_since is not None or self.tools:
            self._show()

    def stop(self) -> None:
        self.waiting_since = None
        self.retry = None
        self.tools.clear()
        self._stop()

    def _show(self) -> None:
        if self.live is None:
            self.live = Live(self, console=self.console, transient=True, refresh_per_second=10)
            self.live.start()

    def _hide_if_idle(self) -> None:
        if self.waiting_since is None and not self.tools:
            self._stop()

    def _stop(self) -> None:
        if self.live is not None:
            live, self.live = self.live, None
            live.stop()
