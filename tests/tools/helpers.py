"""Helpers for the tool tests (imported by the tests; fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from claude_proxy.settings import parse_settings
from claude_proxy.tools.base import ToolContext, ToolResult
from claude_proxy.tools.registry import new_context


def context_with(ws: Path, tools: dict[str, Any]) -> ToolContext:
    """A context whose settings have the given ``tools:`` section."""
    return new_context(ws, parse_settings({"tools": tools}))


def text_of(result: ToolResult) -> str:
    """The text of a result that must be text (not content blocks)."""
    assert isinstance(result.content, str), result.content
    return result.content
