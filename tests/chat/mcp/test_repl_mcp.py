"""`/mcp` in the real REPL (a pseudo-terminal): an unapproved project .mcp.json is announced and
not started; `/mcp approve` starts its servers and `/mcp` lists their status and tools."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.chat.mcp.conftest import DEMO_SERVER
from tests.support.terminal import Terminal

pytestmark = pytest.mark.processes


def test_mcp_command_shows_status_and_approves_the_project_file(fake, cli, chat_env, workdir: Path) -> None:
    (workdir / ".mcp.json").write_text(json.dumps({"mcpServers": {"proj": {
        "command": sys.executable, "args": [str(DEMO_SERVER)]}}}))
    env = {**chat_env, "PROMPT_TOOLKIT_NO_CPR": "1"}
    term = Terminal([*cli, "chat"], env, str(workdir))
    try:
        term.expect("defines MCP servers (proj) that start programs")
        term.expect("Ctrl-D quits")
        term.send_line("/mcp")
        term.expect("is not approved (it starts programs)")
        term.send_line("/mcp approve")
        term.expect("proj (.mcp.json, stdio): connected")
        term.expect("tools: echo, fail, crash, sleep, big, picture")
        term.send_line("/exit")
        assert term.wait_exit() == 0
    finally:
        term.close()
    approvals = Path(chat_env["XDG_CONFIG_HOME"]) / "claude-proxy" / "mcp-approvals.json"
    assert str((workdir / ".mcp.json").resolve()) in json.loads(approvals.read_text())
