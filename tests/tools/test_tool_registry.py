"""The registry: names, aliases, schemas, validation and failures that never raise."""

from __future__ import annotations

from pathlib import Path

from jsonschema import Draft202012Validator

from claude_proxy.settings import parse_settings
from claude_proxy.tools.base import Tool, ToolContext, ToolResult
from claude_proxy.tools.registry import all_tools, definitions, get_tool, new_context, run_tool
from tests.tools.helpers import text_of

EXPECTED = {"Read", "Write", "Edit", "MultiEdit", "LS", "Glob", "Grep", "Bash", "WebFetch", "WebSearch",
            "TodoWrite", "TodoRead", "NotebookRead", "NotebookEdit"}
READ_ONLY = {"Read", "LS", "Glob", "Grep", "WebFetch", "WebSearch", "TodoRead", "NotebookRead"}


def test_every_tool_is_registered_with_a_strict_valid_schema() -> None:
    tools = all_tools()
    assert {t.name for t in tools} == EXPECTED
    for tool in tools:
        Draft202012Validator.check_schema(tool.input_schema)
        assert tool.input_schema["additionalProperties"] is False
        assert tool.description.strip()
    assert {t.name for t in tools if t.read_only} == READ_ONLY


def test_definitions_are_anthropic_tool_definitions() -> None:
    for definition in definitions():
        assert set(definition) == {"name", "description", "input_schema"}


def test_aliases_and_case_resolve_to_the_tool() -> None:
    assert get_tool("View").name == "Read"
    assert get_tool("GrepTool").name == "Grep"
    assert get_tool("bash").name == "Bash"
    assert get_tool("notebookedit").name == "NotebookEdit"
    assert get_tool("Task") is None


async def test_unknown_tool_is_an_error_result(ctx) -> None:
    result = await run_tool("Task", {"prompt": "x"}, ctx)
    assert result.is_error and text_of(result) == "unknown tool: Task"


async def test_validation_names_the_wrong_field(call) -> None:
    missing = await call("Read", {})
    assert missing.is_error and "'file_path'" in text_of(missing)
    wrong = await call("Read", {"file_path": "x", "limit": "ten"})
    assert wrong.is_error and "'limit'" in text_of(wrong)
    extra = await call("Bash", {"command": "true", "sudo": True})
    assert extra.is_error and "unknown field 'sudo'" in text_of(extra)
    not_object = await call("Grep", ["pattern"])
    assert not_object.is_error and "JSON object" in text_of(not_object)


async def test_alias_call_runs_the_tool(ws: Path, call) -> None:
    (ws / "f.txt").write_text("hi\n")
    assert text_of(await call("View", {"file_path": "f.txt"})) == "     1\thi"


async def test_unexpected_exception_becomes_is_error(ctx: ToolContext, monkeypatch) -> None:
    tool = get_tool("TodoRead")

    async def explode(self: Tool, tool_input: dict, context: ToolContext) -> ToolResult:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(type(tool), "run", explode)
    result = await run_tool("TodoRead", {}, ctx)
    assert result.is_error and "RuntimeError: disk on fire" in text_of(result)


async def test_extra_roots_from_settings_are_part_of_the_workspace(tmp_path: Path) -> None:
    ws, shared = tmp_path / "ws", tmp_path / "shared"
    ws.mkdir()
    shared.mkdir()
    (shared / "lib.txt").write_text("shared\n")
    context = new_context(ws, parse_settings({"tools": {"extra_roots": [str(shared)]}}))
    assert text_of(await run_tool("Read", {"file_path": str(shared / "lib.txt")}, context)) == "     1\tshared"
    assert (await run_tool("Read", {"file_path": str(shared / "lib.txt")}, new_context(ws))).is_error
