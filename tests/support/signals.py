"""Signals for child processes the tests interrupt."""

from __future__ import annotations

import os
import signal


def default_sigint() -> None:
    """``preexec_fn`` for a child a test stops with SIGINT, as Ctrl-C would.

    A shell that starts a job in the background (``cmd &``, as a CI runner may) sets
    SIGINT to ignored, and children inherit that; a program then rightly ignores
    SIGINT, so the child must get the default disposition a terminal user has.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def alive(pid: int) -> bool:
    """Whether a process with this pid exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
