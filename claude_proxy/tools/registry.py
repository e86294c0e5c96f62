"""The tool registry and the one way to run a tool call (stub until the executors land).

`all_tools()` lists the tools in the order they are offered to the model;
`get_tool(name)` also knows aliases; `run_tool(name, input, context)` validates the
input against the schema and runs it, turning every failure into an ``is_error``
result. The guard is asked by the caller *before* `run_tool`.
"""

from __future__ import annotations

from typing import Any

from claude_proxy.tools.base import Tool, ToolContext, ToolResult


def all_tools() -> list[Tool]:
    return []


def get_tool(name: str) -> Tool | None:
    return None


async def run_tool(name: str, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
    tool = get_tool(name)
    if tool is None:
        return ToolResult.error(f"unknown tool: {name}")
    return await tool.run(tool_input, context)
