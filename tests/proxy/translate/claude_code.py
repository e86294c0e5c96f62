"""A request shaped like Claude Code's: two dozen tools, cached system blocks, a tool round trip."""

from __future__ import annotations

from typing import Any

TOOL_NAMES = [
    "Task", "Bash", "Glob", "Grep", "LS", "ExitPlanMode", "Read", "Edit", "MultiEdit", "Write",
    "NotebookEdit", "WebFetch", "TodoWrite", "WebSearch", "BashOutput", "KillShell", "SlashCommand",
    "mcp__ide__getDiagnostics", "mcp__ide__executeCode", "mcp__github__create_issue",
    "mcp__github__list_prs", "mcp__fs__read_multiple", "mcp__fs__tree", "mcp__db__query",
]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def tool(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"The {name} tool. " + "Use it carefully. " * 20,
        "input_schema": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "format": {"type": "string", "format": "uri", "description": "a property named like a keyword"},
                "items": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": "string"}, "when": {"type": "string", "format": "date-time"}},
                    "additionalProperties": False}},
                "mode": {"anyOf": [{"type": "string", "enum": ["a", "b"]}, {"type": "null"}]},
            },
            "required": ["format"],
        },
    }


def request() -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "temperature": 1,
        "stream": True,
        "metadata": {"user_id": "user_abc_account__session_123"},
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.",
             "cache_control": {"type": "ephemeral"}},
            {"type": "text",
             "text": "You are an interactive CLI tool that helps users with software engineering tasks.",
             "cache_control": {"type": "ephemeral"}},
        ],
        "tools": [tool(n) for n in TOOL_NAMES],
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>context</system-reminder>"},
                {"type": "text", "text": "Fix the failing test.", "cache_control": {"type": "ephemeral"}},
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Let me read the test.", "signature": "EqQBCgIYAhIM..."},
                {"type": "text", "text": "I'll read the test and take a screenshot."},
                {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {"file_path": "/src/test_a.py"}},
                {"type": "tool_use", "id": "toolu_02", "name": "Bash", "input": {"command": "screenshot"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "def test_a():\n    assert 1 == 2\n"},
                {"type": "tool_result", "tool_use_id": "toolu_02", "is_error": True, "content": [
                    {"type": "text", "text": "exit 1"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                ]},
                {"type": "text", "text": "Also check the CI log."},
            ]},
            {"role": "system", "content": "The user switched to plan mode."},
        ],
    }
