"""The message history, kept valid for the Messages API whatever happens mid-turn.

Invariants: roles alternate starting with ``user``; every ``tool_use`` in an assistant
message is answered by a ``tool_result`` in the next user message; no assistant
message is empty. A new prompt after a user message (an interrupted or failed turn) is
merged into it instead of making two user messages in a row.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

from claude_proxy.pricing import CostTracker

INTERRUPTED_NOTE = "[The previous request was interrupted by the user.]"


def new_session_id() -> str:
    return str(uuid.uuid4())


def text_of(content: Any) -> str:
    """The concatenated text blocks of a message's content."""
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if b.get("type") == "text")


def tool_uses(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [b for b in content if b.get("type") == "tool_use"]


@dataclass
class Conversation:
    """One saved chat: its id, working directory, model, history and usage."""

    id: str = field(default_factory=new_session_id)
    cwd: str = ""
    model: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    costs: CostTracker = field(default_factory=CostTracker)
    title: str = ""
    pending_note: str | None = None
    archive: list[dict[str, Any]] = field(default_factory=list)  # messages compaction replaced, oldest first

    def add_user(self, content: str | list[dict[str, Any]]) -> None:
        """Add a prompt (or tool results), merging into a trailing user message."""
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
        if self.pending_note:
            blocks.insert(0, {"type": "text", "text": self.pending_note})
            self.pending_note = None
        if not self.title:
            self.title = " ".join(text_of(blocks).split())[:80]
        if self.messages and self.messages[-1]["role"] == "user":
            last = self.messages[-1]
            if isinstance(last["content"], str):
                last["content"] = [{"type": "text", "text": last["content"]}]
            results = [b for b in blocks if b.get("type") == "tool_result"]
            others = [b for b in blocks if b.get("type") != "tool_result"]
            # tool_result blocks must come first in a user message
            kept = [b for b in last["content"] if b.get("type") == "tool_result"]
            rest = [b for b in last["content"] if b.get("type") != "tool_result"]
            last["content"] = kept + results + rest + others
        else:
            self.messages.append({"role": "user", "content": blocks})

    def add_assistant(self, content: list[dict[str, Any]]) -> None:
        """Add a finished (or partial, interrupted) assistant message; empty ones are skipped."""
        if content:
            self.messages.append({"role": "assistant", "content": content})

    def snapshot(self) -> tuple[int, Any, str | None]:
        """A restore point taken before a turn (the last message may be merged into)."""
        last = copy.deepcopy(self.messages[-1]) if self.messages else None
        return len(self.messages), last, self.pending_note

    def restore(self, point: tuple[int, Any, str | None]) -> None:
        length, last, note = point
        del self.messages[length:]
        if last is not None:
            self.messages[-1] = last
        self.pending_note = note

    def unanswered_tool_uses(self) -> list[dict[str, Any]]:
        """``tool_use`` blocks of the last message when it is an assistant message."""
        if self.messages and self.messages[-1]["role"] == "assistant":
            return tool_uses(self.messages[-1])
        return []

    def close_dangling(self, reason: str) -> None:
        """Answer tool calls left without results (a run that was killed mid-turn)."""
        pending = self.unanswered_tool_uses()
        if pending:
            self.add_user([{"type": "tool_result", "tool_use_id": b["id"], "content": reason, "is_error": True}
                           for b in pending])

    def is_valid(self) -> bool:
        """Whether the invariants above hold (what the API will accept as history)."""
        expected = "user"
        pending: set[str] = set()
        for message in self.messages:
            if message["role"] != expected:
                return False
            content = message["content"]
            if message["role"] == "user":
                ids = {b["tool_use_id"] for b in content if isinstance(b, dict) and b.get("type") == "tool_result"} \
                    if isinstance(content, list) else set()
                if pending - ids:
                    return False
                pending = set()
            else:
                if not content:
                    return False
                pending = {b["id"] for b in tool_uses(message)}
            expected = "assistant" if expected == "user" else "user"
        return not pending

    def final_text(self) -> str:
        """The text of the last assistant message (the one-shot answer)."""
        for message in reversed(self.messages):
            if message["role"] == "assistant":
                return text_of(message["content"])
        return ""
