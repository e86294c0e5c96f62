"""The contract every tool, the guard and their callers share.

A caller (the chat loop, `claude-proxy tools run`) builds a `ToolContext` once per
session and calls `claude_proxy.tools.registry.run_tool`; it never needs to know how a
particular tool works. Everything a tool can fail at comes back as a `ToolResult`
with ``is_error`` set and a reason the model can read; nothing raises to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from claude_proxy.settings import Settings

Behavior = Literal["allow", "ask", "deny"]


@dataclass
class ToolResult:
    """What a tool returns: text, or Anthropic content blocks (text and image)."""

    content: str | list[dict[str, Any]]
    is_error: bool = False

    def to_block(self, tool_use_id: str) -> dict[str, Any]:
        """The ``tool_result`` content block to send back to the model."""
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id, "content": self.content}
        if self.is_error:
            block["is_error"] = True
        return block

    @classmethod
    def error(cls, message: str) -> "ToolResult":
        return cls(message, is_error=True)


@dataclass
class Decision:
    """The guard's verdict on one call, with a reason the user and the model can read."""

    behavior: Behavior
    reason: str = ""


@dataclass
class ToolSession:
    """State that lives as long as one conversation: read files, todos, remembered rules."""

    id: str = "default"
    read_files: dict[str, float] = field(default_factory=dict)
    todos: list[dict[str, Any]] = field(default_factory=list)
    session_allow: list[str] = field(default_factory=list)


@dataclass
class ToolContext:
    """Where and under which rules a tool runs."""

    cwd: Path
    settings: Settings = field(default_factory=Settings)
    session: ToolSession = field(default_factory=ToolSession)
    extra_roots: list[Path] = field(default_factory=list)

    @property
    def roots(self) -> list[Path]:
        return [self.cwd, *self.extra_roots]


class Tool:
    """A tool the model can call. Subclasses set the class attributes and `run`."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str]
    input_schema: ClassVar[dict[str, Any]]
    read_only: ClassVar[bool] = False
    key_argument: ClassVar[str | None] = None

    def definition(self) -> dict[str, Any]:
        """The Anthropic tool definition, exactly as sent to the model."""
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}

    def summary(self, tool_input: dict[str, Any]) -> str:
        """One compact line for the terminal: the tool and its key argument."""
        arg = tool_input.get(self.key_argument) if self.key_argument else None
        return f"{self.name}({arg})" if arg is not None else self.name

    async def run(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        raise NotImplementedError


class ToolGuard(Protocol):
    """What the runner needs from a guard (`claude_proxy.tools.guard.Guard`).

    Optional extras, used when present: ``decide_async`` (the same verdict off the
    event loop) and ``suggest_rules`` (see ``claude_proxy.chat.rules.suggest_rules``).
    """

    def decide(self, tool: Tool, tool_input: dict[str, Any], context: ToolContext) -> Decision: ...

    def remember(self, rule: str, context: ToolContext) -> None: ...
