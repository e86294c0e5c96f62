"""`claude-proxy mcp list` and `claude-proxy mcp approve` as a user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.processes


def run(cli, env, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*cli, "mcp", *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=60)


def test_list_and_approve_a_project_file(cli, cli_env, workdir: Path) -> None:
    (workdir / ".mcp.json").write_text(json.dumps({"mcpServers": {"docs": {
        "type": "http", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer secret-WXYZ"}}}}))
    listed = run(cli, cli_env, workdir, "list", "--json")
    data = json.loads(listed.stdout)
    assert data["project_file"]["approved"] is False
    assert data["servers"] == [{"name": "docs", "origin": str((workdir / ".mcp.json").resolve()), "used": False,
                                "type": "http", "url": "http://127.0.0.1:9/mcp",
                                "headers": {"Authorization": "****WXYZ"}}]
    refused = run(cli, cli_env, workdir, "approve")
    assert refused.returncode == 2 and "confirm with --yes" in refused.stderr
    assert "Traceback" not in refused.stderr
    approved = run(cli, cli_env, workdir, "approve", "--yes")
    assert approved.returncode == 0 and "docs: http://127.0.0.1:9/mcp" in approved.stdout
    assert json.loads(run(cli, cli_env, workdir, "list", "--json").stdout)["servers"][0]["used"] is True


def test_approve_without_a_file_is_one_line(cli, cli_env, workdir: Path) -> None:
    done = run(cli, cli_env, workdir, "approve", "--yes")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"claude-proxy: error: there is no .mcp.json in {workdir.resolve()}"]
