"""A content block of a translated stream, while its deltas arrive (see ``stream``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Block:
    """One Anthropic content block being assembled from provider deltas."""

    kind: str  # text | thinking | tool_use
    tool_id: str = ""
    name: str = ""
    pending: list[str] = field(default_factory=list)  # deltas not yet sent
    sent: bool = False  # content_block_start emitted
    closed: bool = False
    index: int = -1
    arguments: str = ""  # tool_use: every fragment so far

    checked: int = -1  # length of ``arguments`` when last parsed
    parses: bool = False

    def complete(self) -> bool:
        """May this block close without losing a later delta? (tool_use: its arguments parse)"""
        if self.kind != "tool_use":
            return True
        if self.checked != len(self.arguments):
            self.checked = len(self.arguments)
            try:
                json.loads(self.arguments)
                self.parses = True
            except ValueError:
                self.parses = False
        return self.parses

    def ready(self) -> bool:
        """May this block start? (tool_use: once its name is known)"""
        return self.kind != "tool_use" or bool(self.name)
