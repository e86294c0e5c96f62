"""The OS sandbox for shell commands (stub: the guard work implements bubblewrap)."""

from __future__ import annotations

from claude_proxy.tools.base import ToolContext


def sandbox_argv(argv: list[str], context: ToolContext) -> list[str]:
    """Wrap ``argv`` so it runs inside the sandbox the settings ask for."""
    return argv
