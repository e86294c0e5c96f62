"""`claude-proxy mcp` driven by the `mcp` SDK's client over stdio: tools listed, a guarded call denied,
an allowed one run in the sandbox, permission questions answered through elicitation (both protocol eras)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters

from claude_proxy.settings import Settings
from claude_proxy.tools.guard import sandbox_status

pytestmark = pytest.mark.processes

REPO = Path(__file__).resolve().parents[3]
needs_bwrap = pytest.mark.skipif(not sandbox_status(Settings()).active, reason="no working bubblewrap")


def server(workdir: Path, *args: str) -> StdioServerParameters:
    """This checkout's `claude-proxy mcp` as the SDK client starts any stdio server."""
    env = {"PYTHONPATH": str(REPO), "CLAUDE_PROXY_CONFIG": str(workdir.parent / "settings.yaml"),
           "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"], "XDG_DATA_HOME": os.environ["XDG_DATA_HOME"]}
    (workdir.parent / "settings.yaml").write_text("{}\n")
    return StdioServerParameters(command=sys.executable, args=["-m", "claude_proxy", "mcp", "--cwd", str(workdir),
                                                               *args], env=env)


def text(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


class Answers:
    """An elicitation callback that answers every question with ``decision`` and keeps the messages."""

    def __init__(self, decision: str | None) -> None:
        self.decision = decision
        self.messages: list[str] = []

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.messages.append(params.message)
        if self.decision is None:
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={"decision": self.decision})


async def test_our_tools_are_listed(workdir: Path) -> None:
    async with Client(server(workdir), read_timeout_seconds=60) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert {"Read", "Grep", "Glob", "LS", "Edit", "Write", "Bash"} <= set(tools)
    assert tools["Read"].annotations.read_only_hint is True
    assert tools["Bash"].annotations.read_only_hint is False
    assert "command" in tools["Bash"].input_schema["properties"]


async def test_a_read_only_call_runs_and_a_guarded_one_is_denied_without_elicitation(workdir: Path) -> None:
    (workdir / "notes.txt").write_text("hello from the workspace\n")
    async with Client(server(workdir), read_timeout_seconds=60) as client:
        read = await client.call_tool("Read", {"file_path": "notes.txt"})
        denied = await client.call_tool("Bash", {"command": "touch made.txt"})
        secret = await client.call_tool("Read", {"file_path": str(Path.home() / ".ssh" / "id_rsa")})
    assert not read.is_error and "hello from the workspace" in text(read)
    assert denied.is_error and "Permission denied" in text(denied)
    assert "did not declare elicitation" in text(denied)
    assert not (workdir / "made.txt").exists()
    assert secret.is_error and "Permission denied" in text(secret)


@needs_bwrap
async def test_an_allowed_call_runs_in_the_sandbox(workdir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    # the validator cannot see into the interpreter, so only the sandbox stands between it and the outside
    command = f"echo inside > inside.txt; python3 -c \"open('{outside}/x.txt', 'w')\"; echo done"
    async with Client(server(workdir, "--allowed-tools", "Bash"), read_timeout_seconds=60) as client:
        result = await client.call_tool("Bash", {"command": command})
    assert (workdir / "inside.txt").read_text() == "inside\n", text(result)
    assert not (outside / "x.txt").exists()
    assert "done" in text(result)
    assert "Read-only file system" in text(result) or "No such file or directory" in text(result)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_an_elicitation_answered_yes_allows_the_call(workdir: Path, mode: str) -> None:
    answers = Answers("yes")
    async with Client(server(workdir), mode=mode, elicitation_callback=answers, read_timeout_seconds=60) as client:
        result = await client.call_tool("Bash", {"command": "touch asked.txt"})
    assert not result.is_error, text(result)
    assert (workdir / "asked.txt").exists()
    assert len(answers.messages) == 1 and "touch asked.txt" in answers.messages[0]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_an_elicitation_declined_denies_the_call(workdir: Path, mode: str) -> None:
    answers = Answers(None)
    async with Client(server(workdir), mode=mode, elicitation_callback=answers, read_timeout_seconds=60) as client:
        result = await client.call_tool("Bash", {"command": "touch refused.txt"})
    assert result.is_error and "the user denied this call" in text(result)
    assert not (workdir / "refused.txt").exists()


async def test_always_is_remembered_for_calls_like_it(workdir: Path) -> None:
    answers = Answers("always")
    async with Client(server(workdir), elicitation_callback=answers, read_timeout_seconds=60) as client:
        first = await client.call_tool("Bash", {"command": "touch one.txt"})
        second = await client.call_tool("Bash", {"command": "touch two.txt"})
    assert not first.is_error and not second.is_error
    assert (workdir / "one.txt").exists() and (workdir / "two.txt").exists()
    assert len(answers.messages) == 1


async def test_plan_mode_denies_edits_with_its_reason(workdir: Path) -> None:
    answers = Answers("yes")
    async with Client(server(workdir, "--permission-mode", "plan"), elicitation_callback=answers,
                      read_timeout_seconds=60) as client:
        result = await client.call_tool("Write", {"file_path": "plan.txt", "content": "x"})
    assert result.is_error and "plan mode" in text(result)
    assert answers.messages == [] and not (workdir / "plan.txt").exists()
