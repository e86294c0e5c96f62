"""Shell command validation (stub: the guard work implements the parser-based judge)."""

from __future__ import annotations

from dataclasses import dataclass, field

from claude_proxy.tools.base import Behavior, ToolContext


@dataclass
class PartVerdict:
    """The verdict on one simple command inside a compound command."""

    command: str
    behavior: Behavior
    reason: str


@dataclass
class CommandVerdict:
    """The overall verdict: the strictest of the parts (deny > ask > safe-as-allow)."""

    behavior: Behavior
    reason: str
    parts: list[PartVerdict] = field(default_factory=list)


def judge_command(command: str, context: ToolContext) -> CommandVerdict:
    """Judge a shell command; ``allow`` means proven read-only and safe."""
    return CommandVerdict("ask", "command validation is not built yet")
