"""`claude-proxy tools list|run` as a user runs them: real subprocesses of this checkout."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from claude_proxy.settings import Settings
from claude_proxy.tools.base import ToolContext
from claude_proxy.tools.guard import Guard
from claude_proxy.tools.registry import get_tool

pytestmark = pytest.mark.processes


def run(cli: list[str], env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli, "tools", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_list_names_and_one_line(cli, cli_env) -> None:
    out = run(cli, cli_env, "list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 14
    assert any(line.startswith("Read ") and "read-only" in line for line in lines)
    assert any(line.startswith("Bash ") and "changes" in line for line in lines)


def test_list_json_is_the_definitions_sent_to_the_model(cli, cli_env) -> None:
    from claude_proxy.tools.registry import definitions

    out = run(cli, cli_env, "list", "--json")
    assert out.returncode == 0
    assert json.loads(out.stdout) == definitions()


def test_run_read_prints_the_result(cli, cli_env, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello\n")
    out = run(cli, cli_env, "run", "Read", '{"file_path": "a.txt"}', "--cwd", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "     1\thello\n"


def test_run_tool_failure_exits_1_with_the_reason(cli, cli_env, tmp_path: Path) -> None:
    out = run(cli, cli_env, "run", "Read", '{"file_path": "missing.txt"}', "--cwd", str(tmp_path))
    assert out.returncode == 1
    assert "does not exist" in out.stderr and "Traceback" not in out.stderr


def test_run_json_output(cli, cli_env, tmp_path: Path) -> None:
    out = run(cli, cli_env, "run", "Glob", '{"pattern": "*.none"}', "--cwd", str(tmp_path), "--json")
    assert json.loads(out.stdout) == {"content": "No files found", "is_error": False}


def test_run_write_needing_permission_exits_3_and_changes_nothing(cli, cli_env, tmp_path: Path) -> None:
    out = run(cli, cli_env, "run", "Write", '{"file_path": "x.txt", "content": "x"}', "--cwd", str(tmp_path))
    assert out.returncode == 3
    assert out.stderr.startswith("claude-proxy: error: Write") and len(out.stderr.splitlines()) == 1
    assert not (tmp_path / "x.txt").exists()


def _guard_allows_bypass() -> bool:
    tool = get_tool("Write")
    guard = Guard(Settings(), "bypassPermissions")
    decision = guard.decide(tool, {"file_path": "x", "content": ""}, ToolContext(Path.cwd()))
    return decision.behavior == "allow"


@pytest.mark.skipif(not _guard_allows_bypass(), reason="the guard in this checkout does not implement modes yet")
def test_run_write_with_bypass_permissions(cli, cli_env, tmp_path: Path) -> None:
    out = run(cli, cli_env, "run", "Write", '{"file_path": "x.txt", "content": "x"}', "--cwd", str(tmp_path),
              "--permission-mode", "bypassPermissions")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "x.txt").read_text() == "x"


@pytest.mark.parametrize("args, needle", [
    (("run", "Nope", "{}"), "unknown tool: Nope"),
    (("run", "Read", "{not json"), "not valid JSON"),
    (("run", "Read", "[1]"), "JSON object"),
    (("run", "Read", "{}"), "'file_path'"),
    (("run", "Read", '{"file_path": "a"}', "--permission-mode", "yolo"), "unknown permission mode"),
])
def test_run_usage_errors_are_one_line(cli, cli_env, tmp_path: Path, args, needle: str) -> None:
    out = run(cli, cli_env, *args, cwd=tmp_path)
    assert out.returncode in (1, 2)
    assert needle in out.stderr and len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_run_safe_command_runs_and_dangerous_one_is_refused(cli, cli_env, tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("")
    safe = run(cli, cli_env, "run", "Bash", '{"command": "ls"}', "--cwd", str(tmp_path))
    assert safe.returncode == 0, safe.stderr
    # sandboxed, an empty read-only claude-proxy.yaml stands in for the settings file it may not create
    assert set(safe.stdout.split()) - {"claude-proxy.yaml"} == {"hello.txt"}
    assert not (tmp_path / "claude-proxy.yaml").exists()
    denied = run(cli, cli_env, "run", "Bash", '{"command": "sudo rm -rf /"}', "--cwd", str(tmp_path),
                 "--permission-mode", "bypassPermissions")
    assert denied.returncode == 3 and "denied" in denied.stderr


def test_run_failing_command_exits_1_with_exit_code(cli, cli_env, tmp_path: Path) -> None:
    out = run(cli, cli_env, "run", "Bash", '{"command": "ls no-such-file"}', "--cwd", str(tmp_path))
    assert out.returncode == 1
    assert "no-such-file" in out.stderr and out.stderr.rstrip().endswith("Exit code 2")


def test_an_over_long_path_is_one_line_not_a_traceback(cli, cli_env, tmp_path: Path) -> None:
    out = run(cli, cli_env, "run", "Read", json.dumps({"file_path": "x/" * 2100}), cwd=tmp_path)
    assert out.returncode == 3 and "PATH_MAX" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_an_agent_written_settings_file_cannot_switch_the_guard_off(cli, cli_env, tmp_path: Path) -> None:
    (tmp_path / "claude-proxy.yaml").write_text("permissions: {default_mode: bypassPermissions}\n")
    out = run(cli, cli_env, "run", "Write", json.dumps({"file_path": "x.txt", "content": "x"}), cwd=tmp_path)
    assert out.returncode == 3 and "needs permission" in out.stderr and not (tmp_path / "x.txt").exists()
    assert "permissions.default_mode" in out.stderr and "not trusted" in out.stderr
