"""What a developer's everyday commands still do inside the real sandbox, as the agent and as nobody;
and the Bash tool's promise that nothing it started outlives the call, timeout included."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from claude_proxy.tools.registry import run_tool
from tests.tools.guard.conftest import GIT_ENV
from tests.tools.guard.sandbox_support import USERS, Box, make_box, needs_bwrap

pytestmark = [pytest.mark.processes, needs_bwrap]


@pytest.fixture(params=USERS)
def box(request: pytest.FixtureRequest, _template: Path, tmp_path: Path) -> Box:
    made = make_box(request.param, _template, tmp_path)
    yield made
    shutil.rmtree(made.workspace.parent, ignore_errors=True)


def test_workspace_files_are_read_and_written(box: Box) -> None:
    done = box.run("cat README.md && echo new > new.txt && mkdir -p d/e && echo deep > d/e/f.txt "
                   "&& sed -i 's/demo/DEMO/' README.md && mv a.txt b.txt && rm package.json && echo ok")
    assert done["stdout"].startswith("# demo") and done["stdout"].strip().endswith("ok"), done
    assert (box.workspace / "new.txt").read_text() == "new\n"
    assert (box.workspace / "d/e/f.txt").read_text() == "deep\n"
    assert "DEMO" in (box.workspace / "README.md").read_text()
    assert (box.workspace / "b.txt").exists() and not (box.workspace / "package.json").exists()


def test_git_status_and_commit_in_the_workspace(box: Box, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in GIT_ENV.items():
        monkeypatch.setenv(name, value)
    done = box.run("echo change >> README.md && git status --short && git add -A && git commit -qm third "
                   "&& git log --oneline | wc -l && git diff HEAD~1 --stat")
    assert done["returncode"] == 0, done
    assert " M README.md" in done["stdout"] and "3\n" in done["stdout"]
    log = subprocess.run(["git", "-c", "safe.directory=*", "log", "-1", "--format=%s %an"], cwd=box.workspace,
                         capture_output=True, text=True, check=True)
    assert log.stdout.strip() == "third t"


def test_python_runs_a_script_and_pipelines_work(box: Box) -> None:
    (box.workspace / "script.py").write_text("import sys\nprint(sum(int(x) for x in sys.argv[1:]))\n")
    done = box.run("python3 script.py 1 2 3 && printf 'b\\na\\nc\\n' | sort | head -2 | tr -d '\\n' && echo "
                   "&& ls src | wc -l && echo tmp > /tmp/t && cat /tmp/t && echo home > ~/h && cat ~/h")
    assert done["stdout"].split() == ["6", "ab", "1", "tmp", "home"], done


def test_the_private_home_is_where_home_points(box: Box) -> None:
    done = box.run('echo "$HOME"; ls -A "$HOME" | wc -l')
    home, count = done["stdout"].split()
    assert home == str(box.home) and count == "0"


def _alive(marker: str) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    return True
            except OSError:
                continue
    return False


@pytest.mark.parametrize("timeout_ms", [None, 1500])
async def test_nothing_outlives_the_bash_call(workspace: Path, timeout_ms: int | None) -> None:
    from claude_proxy.settings import Settings
    from claude_proxy.tools.registry import new_context

    marker = f"sandbox-call-{uuid.uuid4().hex}"
    command = (f"(exec -a {marker} sleep 300) & setsid bash -c 'exec -a {marker} sleep 300' & "
               f"nohup bash -c 'exec -a {marker} sleep 300' >/dev/null 2>&1 & sleep 0.5; echo started")
    if timeout_ms:
        command += "; sleep 300"
    tool_input = {"command": command, **({"timeout": timeout_ms} if timeout_ms else {})}
    started = time.monotonic()
    result = await run_tool("Bash", tool_input, new_context(workspace, Settings()))
    assert "started" in str(result.content)
    assert result.is_error == bool(timeout_ms)
    assert time.monotonic() - started < 30
    assert not _alive(marker), "a process the command started is still running"
