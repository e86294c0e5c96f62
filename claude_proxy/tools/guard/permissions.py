"""Permission rules and modes (stub: the guard work implements Claude Code's rule syntax)."""

from __future__ import annotations

from typing import Any

from claude_proxy.tools.base import Decision, Tool, ToolContext


class Guard:
    """Decides allow / ask / deny for one tool call from settings, mode and session rules."""

    def __init__(self, settings: Any = None, mode: str | None = None) -> None:
        self.settings = settings
        self.mode = mode or "default"

    def decide(self, tool: Tool, tool_input: dict[str, Any], context: ToolContext) -> Decision:
        if tool.read_only:
            return Decision("allow", "read-only tool")
        return Decision("ask", f"{tool.name} changes things")

    def remember(self, rule: str, context: ToolContext) -> None:
        """Allow ``rule`` (e.g. ``Bash(npm test:*)``) for the rest of the session."""
        context.session.session_allow.append(rule)
