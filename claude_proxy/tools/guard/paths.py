"""Path validation (stub: the guard work implements the real checks)."""

from __future__ import annotations

from pathlib import Path

from claude_proxy.tools.base import ToolContext


class PathDenied(Exception):
    """A path outside the workspace or into a protected place; the message says why."""


def check_path(path: str, context: ToolContext, *, write: bool = False) -> Path:
    """Resolve ``path`` against the workspace and return it, or raise `PathDenied`."""
    if "\x00" in path:
        raise PathDenied("path contains a NUL byte")
    p = Path(path).expanduser()
    return (p if p.is_absolute() else context.cwd / p).resolve()
