"""MCP tools in a chat session (`chat -p` in-process against the scripted model): offered as
mcp__server__tool, guarded (denied without approval, allowed by mcp__server or mcp__server__tool rules,
denied by a deny rule in any mode), and only an approved project .mcp.json is used."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from claude_proxy.mcp.config import approvals_path
from claude_proxy.settings import parse_settings
from tests.chat.mcp.conftest import DEMO_SERVER
from tests.support.chat import TEST_KEY, oneshot, result_text, tool_results
from tests.support.scripted_anthropic import Reply, tool_use

pytestmark = pytest.mark.processes


def settings_for(fake, workdir: Path, servers: dict | None = None, **permissions):
    demo = {"command": sys.executable, "args": [str(DEMO_SERVER)]}
    return parse_settings({
        "chat": {"max_retries": 0, "base_url": fake.url, "api_key": TEST_KEY,
                 "sessions_path": str(workdir.parent / "sessions.db")},
        "mcp": {"servers": {"demo": demo} if servers is None else servers},
        "permissions": permissions,
    })


def echo_turn(fake) -> None:
    fake.script(Reply(tool_use("mcp__demo__echo", {"text": "ping"})), Reply("done"))


async def test_the_model_is_offered_the_servers_tools(fake, workdir: Path) -> None:
    fake.script(Reply("hi"))
    code, error, _ = await oneshot(fake, workdir, "hello", settings=settings_for(fake, workdir))
    assert (code, error) == (0, None)
    names = [tool["name"] for tool in fake.requests[0]["tools"]]
    assert {"mcp__demo__echo", "mcp__demo__crash", "Read", "Bash"} <= set(names)


async def test_a_call_is_denied_without_approval(fake, workdir: Path) -> None:
    echo_turn(fake)
    code, _, out = await oneshot(fake, workdir, "echo", "json", settings=settings_for(fake, workdir))
    [result] = tool_results(fake.requests[1])
    assert result["is_error"] and "MCP server demo" in result_text(result)
    assert json.loads(out)["permission_denials"][0]["tool_name"] == "mcp__demo__echo"


@pytest.mark.parametrize("rule", ["mcp__demo", "mcp__demo__echo"])
async def test_a_call_is_allowed_by_a_server_or_tool_rule(fake, workdir: Path, rule: str) -> None:
    echo_turn(fake)
    code, error, out = await oneshot(fake, workdir, "echo", settings=settings_for(fake, workdir, allow=[rule]))
    [result] = tool_results(fake.requests[1])
    assert not result.get("is_error") and result_text(result).startswith("echo: ping")
    assert (code, out.strip()) == (0, "done")


async def test_a_deny_rule_wins_even_when_permissions_are_bypassed(fake, workdir: Path) -> None:
    echo_turn(fake)
    await oneshot(fake, workdir, "echo", settings=settings_for(fake, workdir, deny=["mcp__demo__echo"]),
                  permission_mode="bypassPermissions")
    [result] = tool_results(fake.requests[1])
    assert result["is_error"] and "denied by the permission rule mcp__demo__echo" in result_text(result)


async def test_a_project_mcp_json_is_used_only_once_approved(fake, workdir: Path) -> None:
    from claude_proxy.mcp.config import approve, load_project_file

    (workdir / ".mcp.json").write_text(json.dumps({"mcpServers": {"proj": {
        "command": sys.executable, "args": [str(DEMO_SERVER)], "env": {"DEMO": "1"}}}}))
    settings = settings_for(fake, workdir, servers={}, allow=["mcp__proj"])
    fake.script(Reply("first"))
    code, _, _ = await oneshot(fake, workdir, "hello", settings=settings)
    assert code == 0
    assert not any(t["name"].startswith("mcp__") for t in fake.requests[0]["tools"])

    project = load_project_file(workdir)
    assert project is not None and not project.approved
    approve(project)
    assert str(project.path) in json.loads(approvals_path().read_text())
    fake.script(Reply(tool_use("mcp__proj__echo", {"text": "from the project"})), Reply("done"))
    await oneshot(fake, workdir, "echo", settings=settings)
    [result] = tool_results(fake.requests[2])
    assert result_text(result).startswith("echo: from the project")

    (workdir / ".mcp.json").write_text(json.dumps({"mcpServers": {"proj": {"command": "true"}}}))
    assert not load_project_file(workdir).approved


async def test_a_server_that_cannot_start_is_a_warning_and_the_session_goes_on(fake, workdir: Path, capsys) -> None:
    fake.script(Reply("still here"))
    settings = settings_for(fake, workdir, servers={"gone": {"command": str(workdir / "no-such-program")}})
    settings.mcp.max_restarts = 0
    code, error, out = await oneshot(fake, workdir, "hello", settings=settings)
    assert (code, error, out.strip()) == (0, None, "still here")
    warning = capsys.readouterr().err
    assert "MCP server gone is failed" in warning and "no-such-program" in warning
    assert not any(t["name"].startswith("mcp__") for t in fake.requests[0]["tools"])


async def test_an_unapproved_project_file_is_announced_in_one_shot_mode(fake, workdir: Path, capsys) -> None:
    (workdir / ".mcp.json").write_text(json.dumps({"mcpServers": {"proj": {"command": "true"}}}))
    fake.script(Reply("ok"))
    await oneshot(fake, workdir, "hello", settings=settings_for(fake, workdir, servers={}))
    assert "defines MCP servers (proj) that start programs" in capsys.readouterr().err
