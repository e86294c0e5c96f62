"""Bash: real subprocesses in the workspace, timeouts that kill the whole group, output limits."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from claude_proxy.tools.registry import run_tool
from tests.tools.helpers import context_with, text_of

pytestmark = pytest.mark.processes


def running(marker: str) -> bool:
    """Whether a live (non-zombie) process has ``marker`` as an argument.

    Found through /proc rather than by PID, so it also sees processes inside the
    sandbox's PID namespace, whose PIDs mean nothing out here.
    """
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                args = handle.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as handle:
                state = handle.read().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if marker.encode() in args and state != "Z":
            return True
    return False


async def gone(marker: str) -> bool:
    for _ in range(100):
        if not running(marker):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_runs_in_the_workspace_and_captures_both_streams(ws: Path, call) -> None:
    (ws / "marker.txt").write_text("")
    result = await call("Bash", {"command": "pwd; ls marker.txt; echo oops >&2"})
    assert not result.is_error
    assert text_of(result) == f"{ws}\nmarker.txt\noops"


async def test_non_zero_exit_appends_exit_code(call) -> None:
    result = await call("Bash", {"command": "echo partial; exit 3"})
    assert result.is_error and text_of(result) == "partial\nExit code 3"


async def test_no_output_is_said(call) -> None:
    assert text_of(await call("Bash", {"command": "true"})) == "(no output)"


async def test_no_stdin(call) -> None:
    result = await call("Bash", {"command": "cat; echo done"})
    assert text_of(result) == "done"


async def test_timeout_kills_the_whole_process_group(ws: Path, call) -> None:
    result = await call("Bash", {"command": "sleep 61.01 & echo started; sleep 61.02", "timeout": 500})
    assert result.is_error
    assert "started" in text_of(result) and "timed out after 0.5 s" in text_of(result)
    assert await gone("61.01") and await gone("61.02")


async def test_default_timeout_comes_from_settings(ws: Path) -> None:
    context = context_with(ws, {"bash": {"default_timeout": 0.5}})
    result = await run_tool("Bash", {"command": "sleep 30"}, context)
    assert result.is_error and "timed out after 0.5 s" in text_of(result)


async def test_background_children_do_not_outlive_the_command(ws: Path, call) -> None:
    result = await call("Bash", {"command": "sleep 61.03 > /dev/null 2>&1 & echo bye"})
    assert text_of(result) == "bye"
    assert await gone("61.03")


async def test_output_is_cut_with_a_note(call) -> None:
    result = await call("Bash", {"command": "head -c 100000 /dev/zero | tr '\\0' 'a'; echo; echo THE-END"})
    text = text_of(result)
    assert len(text) < 30_200
    assert "characters cut from the middle" in text
    assert text.rstrip().endswith("THE-END")
    assert text.startswith("a" * 1000)


async def test_timeout_over_the_maximum_is_rejected(call) -> None:
    result = await call("Bash", {"command": "true", "timeout": 900_000})
    assert result.is_error and "timeout" in text_of(result)


async def test_cancelling_the_call_kills_the_command(ws: Path, ctx) -> None:
    task = asyncio.create_task(run_tool("Bash", {"command": "sleep 61.04"}, ctx))
    for _ in range(200):
        if running("61.04"):
            break
        await asyncio.sleep(0.05)
    assert running("61.04")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await gone("61.04")


async def test_killed_by_signal_is_reported(call) -> None:
    result = await call("Bash", {"command": "kill -TERM $$"})
    assert result.is_error and "SIGTERM" in text_of(result)


async def test_required_sandbox_missing_means_not_run(ws: Path, tmp_path: Path, monkeypatch) -> None:
    from claude_proxy.settings import parse_settings
    from claude_proxy.tools.registry import new_context

    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    context = new_context(ws, parse_settings({"sandbox": {"mode": "bwrap"}}))
    result = await run_tool("Bash", {"command": "echo ran > ran.txt"}, context)
    assert result.is_error and "not run" in text_of(result) and "bwrap" in text_of(result)
    assert not (ws / "ran.txt").exists()


async def test_commands_cannot_write_outside_the_workspace(ws: Path, call) -> None:
    import shutil
    import tempfile

    from claude_proxy.settings import Settings
    from claude_proxy.tools.guard.sandbox import sandbox_status

    if not sandbox_status(Settings()).active:
        pytest.skip("bubblewrap cannot create a sandbox on this machine")
    outside = Path(tempfile.mkdtemp(prefix="claude-proxy-test-", dir="/var/tmp"))
    try:
        result = await call("Bash", {"command": f"echo pwned > {outside}/x.txt; echo inside > in.txt"})
        assert "x.txt: No such file or directory" in text_of(result)  # only the workspace is mounted
        assert not (outside / "x.txt").exists() and (ws / "in.txt").read_text() == "inside\n"
    finally:
        shutil.rmtree(outside)


async def test_only_allow_listed_variables_reach_commands(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-must-not-leak")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:pw-must-not-leak@db")  # a secret with an innocent name
    monkeypatch.setenv("LC_TIME", "C")
    command = {"command": "echo ${ANTHROPIC_API_KEY:-none} ${DATABASE_URL:-none} $LC_TIME $GIT_CONFIG_KEY_0"}
    hidden = await run_tool("Bash", command, context_with(ws, {}))
    assert text_of(hidden) == "none none C core.fsmonitor"
    passed = await run_tool("Bash", command, context_with(ws, {"bash": {"pass_secret_env": True}}))
    assert text_of(passed) == "sk-ant-must-not-leak postgres://u:pw-must-not-leak@db C core.fsmonitor"
