"""The tool registry and the one way to run a tool call.

`all_tools()` lists the tools in the order they are offered to the model;
`get_tool(name)` also knows aliases; `run_tool(name, input, context)` validates the
input against the schema and runs it, turning every failure into an ``is_error``
result. The guard is asked by the caller *before* `run_tool`.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from claude_proxy.settings import Settings
from claude_proxy.tools.base import Tool, ToolContext, ToolResult, ToolSession
from claude_proxy.tools.validation import validation_error

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _tools() -> tuple[Tool, ...]:
    from claude_proxy.tools.edit import EditTool, MultiEditTool, WriteTool
    from claude_proxy.tools.files import LSTool, ReadTool
    from claude_proxy.tools.notebook import NotebookEditTool, NotebookReadTool
    from claude_proxy.tools.search import GlobTool, GrepTool
    from claude_proxy.tools.shell import BashTool
    from claude_proxy.tools.todo import TodoReadTool, TodoWriteTool
    from claude_proxy.tools.web import WebFetchTool
    from claude_proxy.tools.websearch import WebSearchTool

    return (
        BashTool(), GlobTool(), GrepTool(), LSTool(), ReadTool(), EditTool(), MultiEditTool(), WriteTool(),
        NotebookReadTool(), NotebookEditTool(), WebFetchTool(), WebSearchTool(), TodoReadTool(), TodoWriteTool(),
    )


@lru_cache(maxsize=1)
def _index() -> dict[str, Tool]:
    index: dict[str, Tool] = {}
    for tool in _tools():
        for name in (tool.name, *tool.aliases):
            index[name] = tool
            index.setdefault(name.lower(), tool)
    return index


def all_tools() -> list[Tool]:
    """Every tool, in the order offered to the model."""
    return list(_tools())


def get_tool(name: str) -> Tool | None:
    """The tool called ``name`` (its own name, an alias, or either in another case), or None."""
    index = _index()
    return index.get(name) or index.get(name.lower())


def definitions(tools: list[Tool] | None = None) -> list[dict[str, Any]]:
    """The Anthropic tool definitions, exactly as sent to the model."""
    return [tool.definition() for tool in (all_tools() if tools is None else tools)]


def new_context(cwd: str | Path, settings: Settings | None = None, session: ToolSession | None = None) -> ToolContext:
    """A context for one session: the workspace is ``cwd`` plus ``tools.extra_roots``."""
    root = Path(cwd).expanduser().resolve()
    settings = settings if settings is not None else Settings()
    roots = [(root / Path(r).expanduser()).resolve() for r in settings.tools.extra_roots]
    return ToolContext(cwd=root, settings=settings, session=session or ToolSession(), extra_roots=roots)


async def run_tool(name: str, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
    """Validate and run one call; never raises (cancellation aside): failures are ``is_error``."""
    tool = get_tool(name)
    if tool is None:
        return ToolResult.error(f"unknown tool: {name}")
    problem = validation_error(tool, tool_input)
    if problem:
        return ToolResult.error(problem)
    try:
        return await tool.run(tool_input, context)
    except Exception as exc:  # the edge: a bug in one tool must not end the conversation
        log.exception("tool %s failed", tool.name)
        return ToolResult.error(f"{tool.name} failed unexpectedly: {type(exc).__name__}: {exc}")
