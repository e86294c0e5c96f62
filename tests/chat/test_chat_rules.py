"""Which rule an "always" answer adds: the narrowest that the guard confirms covers the call."""

from __future__ import annotations

from pathlib import Path

from claude_proxy.chat.rules import narrowest_rules
from claude_proxy.settings import Settings
from claude_proxy.tools import registry
from claude_proxy.tools.base import ToolContext, ToolSession
from claude_proxy.tools.guard import Guard


def _rules(workdir: Path, tool: str, tool_input: dict) -> list[str]:
    context = ToolContext(cwd=workdir, settings=Settings(), session=ToolSession())
    found = registry.get_tool(tool)
    assert found is not None
    return narrowest_rules(Guard(Settings()), found, tool_input, context)


def test_a_file_gets_its_own_rule_not_the_workspace(workdir: Path) -> None:
    (workdir / "docs").mkdir()
    assert _rules(workdir, "Write", {"file_path": "notes.md", "content": "x"}) == ["Edit(./notes.md)"]
    assert _rules(workdir, "Edit", {"file_path": str(workdir / "docs" / "a.md"), "old_string": "a",
                                    "new_string": "b"}) == ["Edit(./docs/a.md)"]


def test_a_name_with_glob_characters_falls_back_to_the_guards_rule(workdir: Path) -> None:
    rules = _rules(workdir, "Write", {"file_path": "odd[1].md", "content": "x"})
    assert rules and all("odd[1]" not in r for r in rules), "a glob in the name would match other files"


def test_commands_keep_the_guards_prefix_rule(workdir: Path) -> None:
    assert _rules(workdir, "Bash", {"command": "npm test -- --watch"}) == ["Bash(npm test:*)"]
