"""Tool names the Chat Completions reference accepts, and the way back to the client's names.

Chat completions wants ``^[a-zA-Z0-9_-]{1,64}$``; Anthropic allows longer names and MCP
clients send names with dots or colons. Such a name travels as an alias: its characters
outside the set become ``_``, it is cut to 55 characters and ends with ``_`` and 8 hex
digits of the SHA-256 of the whole name. The alias depends only on the name, so every
request of a conversation sends the same one and history, ``tool_choice`` and answers
agree. If an alias would equal another tool's name, a salted hash is taken instead.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Iterable

VALID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_INVALID_CHARS = re.compile(r"[^A-Za-z0-9_-]")
MAX_LENGTH = 64
_DIGITS = 8


def _alias(name: str, salt: int) -> str:
    seed = name if not salt else f"{salt}:{name}"
    digest = hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGITS]
    stem = _INVALID_CHARS.sub("_", name)[: MAX_LENGTH - _DIGITS - 1]
    return f"{stem}_{digest}"


class ToolNames:
    """The aliases of one request's tool names, both ways; valid names stand for themselves."""

    def __init__(self, names: Iterable[Any] = ()) -> None:
        wanted = sorted({n for n in names if isinstance(n, str) and n})
        taken = {n for n in wanted if VALID.match(n)}
        self._aliases: dict[str, str] = {}
        self._originals: dict[str, str] = {}
        for name in wanted:
            if name in taken:
                continue
            salt = 0
            alias = _alias(name, salt)
            while alias in taken:
                salt += 1
                alias = _alias(name, salt)
            taken.add(alias)
            self._aliases[name] = alias
            self._originals[alias] = name

    @classmethod
    def from_request(cls, body: dict[str, Any]) -> ToolNames:
        """Every tool name a request mentions: its tools, ``tool_choice`` and the history's tool calls."""
        names: list[Any] = []  # non-strings are skipped
        for tool in body.get("tools") or []:
            if isinstance(tool, dict):
                names.append(tool.get("name"))
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            names.append(choice.get("name"))
        for message in body.get("messages") or []:
            content = message.get("content") if isinstance(message, dict) else None
            for block in content if isinstance(content, list) else []:
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    names.append(block.get("name"))
        return cls(names)

    def alias(self, name: str) -> str:
        """The name sent to the provider."""
        return self._aliases.get(name, name)

    def original(self, name: str) -> str:
        """The client's name for one the provider sent back (unknown names as they are)."""
        return self._originals.get(name, name)

    def __bool__(self) -> bool:
        return bool(self._aliases)
