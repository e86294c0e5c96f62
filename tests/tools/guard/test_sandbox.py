"""The bubblewrap sandbox, for real: the isolation asked for, /tmp is private, no network,
the sandboxed process dies with its parent, hostile commands leave nothing outside, and
the modes (auto, bwrap, off) and the fallback guard without a sandbox."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from claude_proxy.tools.guard import SandboxAwareGuard, judge_command, prepare_command
from claude_proxy.tools.guard.sandbox import SandboxUnavailable, sandbox_status
from claude_proxy.tools.guard.sandbox.mounts import SYSTEM_DIRS
from tests.tools.guard.conftest import make_context, tool

pytestmark = pytest.mark.processes

STATUS = sandbox_status(make_context(Path("/")).settings)
needs_bwrap = pytest.mark.skipif(not STATUS.active, reason=f"no working bubblewrap: {STATUS.message}")


def run(command: str, context, timeout: float = 30) -> subprocess.CompletedProcess:
    prepared = prepare_command(["bash", "-c", command], context)
    try:
        return subprocess.run(prepared.argv, env=prepared.env, capture_output=True, text=True, timeout=timeout,
                              cwd=context.cwd)
    finally:
        prepared.close()


def snapshot(path: Path) -> dict[str, tuple[int, bytes]]:
    found = {}
    for item in sorted(path.rglob("*")):
        data = item.read_bytes() if item.is_file() and not item.is_symlink() else b""
        found[str(item.relative_to(path))] = (item.lstat().st_mode, data)
    return found


@needs_bwrap
def test_argv_has_the_promised_isolation(context):
    prepared = prepare_command(["true"], context)
    prepared.close()
    argv = prepared.argv
    for flag in ("--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup",
                 "--unshare-net", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert argv[argv.index("--chdir") + 1] == str(context.cwd)


@needs_bwrap
def test_the_namespaces_are_new(context):
    mine = {name: os.readlink(f"/proc/self/ns/{name}") for name in ("user", "pid", "ipc", "uts", "net", "cgroup",
                                                                     "mnt")}
    done = run("for n in user pid ipc uts net cgroup mnt; do echo $n $(readlink /proc/self/ns/$n); done; hostname",
               context)
    theirs = dict(line.split() for line in done.stdout.splitlines()[:-1])
    assert set(theirs) == set(mine) and all(theirs[n] != mine[n] for n in mine), done
    assert done.stdout.splitlines()[-1] == "sandbox"


@needs_bwrap
def test_workspace_is_writable_and_the_rest_is_not(context, workspace, outside):
    done = run(f"echo inside > made.txt && echo outside > {outside}/made.txt", context)
    assert (workspace / "made.txt").read_text() == "inside\n"
    assert done.returncode != 0 and "made.txt" in done.stderr  # outside the workspace is not even there
    assert not (outside / "made.txt").exists()


@needs_bwrap
def test_tmp_is_private(context):
    marker = Path("/tmp") / f"guard-marker-{uuid.uuid4().hex}"
    marker.write_text("host")
    try:
        done = run(f"test -e {marker} && echo visible; echo sandbox > /tmp/inner-{marker.name}; echo ok", context)
        assert done.stdout.strip() == "ok"
        assert not (Path("/tmp") / f"inner-{marker.name}").exists()
    finally:
        marker.unlink()


@pytest.fixture
def listener():
    """A TCP server on 127.0.0.1 outside the sandbox that answers 'hello'."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(10)

    def serve() -> None:
        try:
            while True:
                conn, _ = server.accept()
                conn.sendall(b"hello")
                conn.close()
        except OSError:
            return

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def _python_in_sandbox() -> str | None:
    """A Python the sandboxed command can run: only the system directories are mounted in
    it (a venv or pyenv under a home or /tmp is hidden), so the first interpreter whose real
    path lies in one of them."""
    for candidate in ("/usr/bin/python3", shutil.which("python3"), sys.executable):
        if not candidate:
            continue
        real = Path(os.path.realpath(candidate))
        if real.is_file() and os.access(real, os.X_OK) and any(real.is_relative_to(d) for d in SYSTEM_DIRS):
            return str(real)
    return None


SANDBOX_PY = _python_in_sandbox()
needs_python = pytest.mark.skipif(SANDBOX_PY is None,
                                  reason="no Python interpreter in the system directories the sandbox mounts")

CONNECT = ("{py} -c \"import socket; s = socket.create_connection(('127.0.0.1', {port}), timeout=5); "
           "print(s.recv(5).decode())\"")


@needs_bwrap
@needs_python
def test_no_network_inside_the_sandbox(context, listener):
    done = run(CONNECT.format(py=SANDBOX_PY, port=listener), context)
    assert done.returncode != 0
    assert "hello" not in done.stdout
    # the interpreter did run: the connection failed, not the command
    assert "ConnectionRefusedError" in done.stderr or "Network is unreachable" in done.stderr, done.stderr


@needs_bwrap
@needs_python
def test_network_when_settings_allow_it(workspace, listener):
    context = make_context(workspace, sandbox={"network": True})
    done = run(CONNECT.format(py=SANDBOX_PY, port=listener), context)
    assert done.stdout.strip() == "hello", done.stderr


def _pids(marker: str, *, leader_only: bool = False) -> list[int]:
    """Processes whose argv[0] is ``marker`` (the sleeper), or that mention it at all (bwrap too)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if (argv[0] == marker.encode()) if leader_only else any(marker.encode() in a for a in argv):
                found.append(int(entry.name))
    return found


def _alive(marker: str) -> bool:
    return bool(_pids(marker, leader_only=True))


@needs_bwrap
def test_sandboxed_process_is_killed_with_its_parent(context):
    marker = f"guard-sleeper-{uuid.uuid4().hex}"
    parent_code = (
        "import subprocess, sys, time\n"
        "from pathlib import Path\n"
        "from claude_proxy.tools.base import ToolContext\n"
        "from claude_proxy.tools.guard import prepare_command\n"
        f"context = ToolContext(cwd=Path({str(context.cwd)!r}))\n"
        f"prepared = prepare_command(['bash', '-c', 'exec -a {marker} sleep 300'], context)\n"
        "subprocess.Popen(prepared.argv, env=prepared.env)\n"
        "print('started', flush=True)\n"
        "time.sleep(300)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])})
    try:
        assert parent.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 20
        while not _alive(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _alive(marker)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while _pids(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _pids(marker), "the sandbox or its command outlived the parent"
    finally:
        parent.kill()
        for pid in _pids(marker):
            os.kill(pid, signal.SIGKILL)


HOSTILE_WRITES = [
    "rm -rf {out}",
    "find {out} -delete",
    "echo pwned > {out}/new.txt",
    "cp a.txt {out}/copy.txt",
    "sed -n 's/b/x/w {out}/sed.txt' a.txt",
    "git -c alias.x='!touch {out}/git.txt' x",
    "find . -maxdepth 0 -exec touch {out}/find.txt \\;",
    "timeout 5 touch {out}/timeout.txt",
    "env touch {out}/env.txt",
    "echo $(touch {out}/subst.txt)",
    "tee {out}/tee.txt < a.txt",
    "ls; mv a.txt {out}/moved.txt",
    "bash -c 'touch {out}/bash.txt'",
    "python3 -c \"open('{out}/py.txt', 'w').write('x')\"",
    "ln -s /etc {out}/link",
    "chmod 000 {out}/canary",
    "truncate -s 0 {out}/canary",
    "dd if=/dev/zero of={out}/canary bs=1 count=1",
    "ls | xargs -I{{}} cp {{}} {out}/",
    "touch {out}/a\\\n{out}/b",
]


@needs_bwrap
@pytest.mark.parametrize("template", HOSTILE_WRITES)
def test_hostile_command_is_not_safe_and_writes_nothing_outside(template, context, outside):
    command = template.format(out=outside)
    assert judge_command(command, context).behavior != "allow"
    before = snapshot(outside)
    run(command, context)
    assert snapshot(outside) == before


def test_bwrap_mode_without_bwrap_is_a_clear_error(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    context = make_context(workspace, sandbox={"mode": "bwrap"})
    with pytest.raises(SandboxUnavailable, match="bubblewrap"):
        prepare_command(["true"], context)


def test_off_mode_runs_unwrapped(workspace):
    context = make_context(workspace, sandbox={"mode": "off"})
    assert prepare_command(["echo", "hi"], context).argv == ["echo", "hi"]
    assert sandbox_status(context.settings).active is False


def test_auto_without_bwrap_warns_once_and_runs_unsandboxed(workspace, tmp_path):
    code = (
        "import logging\n"
        "from pathlib import Path\n"
        "from claude_proxy.tools.base import ToolContext\n"
        "from claude_proxy.tools.guard import prepare_command\n"
        "logging.basicConfig(format='%(levelname)s %(message)s')\n"
        f"context = ToolContext(cwd=Path({str(workspace)!r}))\n"
        "print(prepare_command(['echo', 'hi'], context).argv)\n"
        "print(prepare_command(['echo', 'hi'], context).argv)\n"
    )
    env = {**os.environ, "PATH": str(tmp_path / "empty"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.splitlines() == ["['echo', 'hi']", "['echo', 'hi']"]
    assert done.stderr.count("WARNING") == 1
    assert "without an OS sandbox" in done.stderr


def test_the_snapshot_does_see_writes_when_unsandboxed(workspace, outside):
    context = make_context(workspace, sandbox={"mode": "off"})
    before = snapshot(outside)
    run(f"echo pwned > {outside}/new.txt", context)
    assert snapshot(outside) != before


def test_without_a_sandbox_every_command_not_proven_safe_asks(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no bwrap: auto mode cannot sandbox
    bash = tool("Bash")
    context = make_context(workspace, permissions={"allow": ["Bash(npm test:*)"]})
    for mode in ("bypassPermissions", "acceptEdits", "default"):
        guard = SandboxAwareGuard(context.settings, mode)
        asked = guard.decide(bash, {"command": "npm test"}, context)  # an allow rule, or bypass
        assert asked.behavior == "ask" and "no OS sandbox" in asked.reason, (mode, asked)
        redirect = guard.decide(bash, {"command": "echo hi > notes.txt"}, context)
        assert redirect.behavior == "ask"
        assert guard.decide(bash, {"command": "git status"}, context).behavior == "allow"
    off = make_context(workspace, sandbox={"mode": "off"})
    assert SandboxAwareGuard(off.settings, "bypassPermissions").decide(bash, {"command": "npm test"},
                                                                       off).behavior == "allow"


@needs_bwrap
def test_with_the_sandbox_the_modes_decide_as_before(workspace):
    context = make_context(workspace)
    guard = SandboxAwareGuard(context.settings, "bypassPermissions")
    assert guard.decide(tool("Bash"), {"command": "npm test"}, context).behavior == "allow"
