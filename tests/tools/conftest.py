"""Fixtures for the tool tests: a real workspace folder and a context rooted in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from claude_proxy.settings import Settings
from claude_proxy.tools.base import ToolContext, ToolResult
from claude_proxy.tools.registry import new_context, run_tool


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """An empty workspace directory (its parent, tmp_path, is outside the workspace)."""
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
def ctx(ws: Path) -> ToolContext:
    return new_context(ws, Settings())


@pytest.fixture
def call(ctx: ToolContext):
    """Run a tool by name through the registry, as the chat loop does."""

    async def _call(name: str, tool_input: Any, context: ToolContext | None = None) -> ToolResult:
        return await run_tool(name, tool_input, context or ctx)

    return _call
