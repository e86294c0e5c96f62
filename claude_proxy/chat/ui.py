"""What the agent loop tells its front end, and the one thing it asks it.

The loop knows nothing about terminals: the REPL renders these callbacks with rich,
the one-shot mode prints text or JSON lines, a sub-agent forwards a few of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from claude_proxy.tools.base import Decision, Tool, ToolResult

Answer = Literal["yes", "no", "always"]


@dataclass
class ToolCall:
    """One ``tool_use`` block as the loop handles it."""

    id: str
    name: str
    input: dict[str, Any]
    tool: Tool | None = None
    decision: Decision | None = None
    always_rules: list[str] = field(default_factory=list)  # what answering "always" would allow

    @property
    def summary(self) -> str:
        if self.tool is None:
            return self.name
        try:
            return self.tool.summary(self.input)
        except (KeyError, TypeError, ValueError, AttributeError):
            return self.tool.name


@dataclass
class TurnResult:
    """How one prompt ended."""

    stop_reason: str
    text: str = ""
    num_turns: int = 0
    error: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    api_ms: int = 0

    @property
    def is_error(self) -> bool:
        return self.error is not None or self.stop_reason == "max_turns"


class AgentUI:
    """Base front end: every callback does nothing and every question is answered no."""

    interactive = False
    wants_stream_events = False

    def request_started(self) -> None:
        """A model request is about to stream."""

    def retrying(self, reason: str, delay: float) -> None:
        """The request failed with ``reason`` and is tried again in ``delay`` seconds."""

    def text_delta(self, text: str) -> None:
        """A piece of the assistant's text, as it arrives."""

    def thinking_delta(self, text: str) -> None:
        """A piece of extended thinking, as it arrives."""

    def stream_event(self, event: dict[str, Any]) -> None:
        """A raw API stream event; sent only when ``wants_stream_events`` is set."""

    def message_done(self, content: list[dict[str, Any]], stop_reason: str | None) -> None:
        """The assistant message is complete (or was cut short)."""

    def assistant_message(self, message: dict[str, Any]) -> None:
        """The whole reply as the API returned it (id, model, content, stop reason, usage)."""

    def tool_results_sent(self, content: list[dict[str, Any]]) -> None:
        """The ``tool_result`` blocks about to go back to the model as a user message."""

    def tool_call(self, call: ToolCall) -> None:
        """A call is about to be judged and run."""

    def tool_started(self, call: ToolCall) -> None:
        """An allowed call starts running."""

    async def ask(self, call: ToolCall, decision: Decision) -> Answer:
        """The guard said ask: yes, no, or always (remember a rule for the session)."""
        return "no"

    async def rule_remembered(self, rule: str) -> None:
        """An "always" answer added ``rule`` to the session (the REPL may offer to save it)."""

    def tool_result(self, call: ToolCall, result: ToolResult) -> None:
        """A call finished, failed or was denied."""

    def compacting(self, trigger: str, tokens: int) -> None:
        """Compaction starts (``trigger``: "manual" or "auto"; ``tokens``: the estimated context)."""

    def compacted(self, trigger: str, tokens: int, messages: int) -> None:
        """The history (``messages`` messages, ~``tokens``) is now one summary."""

    def notice(self, text: str) -> None:
        """Something the user should know that is not part of the answer (a warning)."""
