"""Running a command in the real sandbox as the agent's user, or as ``nobody`` when the tests run as root.

The unprivileged run forks the test process and drops to nobody/nogroup before our code
builds the sandbox, so the same code path runs without privileges: bubblewrap then
needs unprivileged user namespaces, and the process limit falls back to the rlimit.
(The interpreter under test may live where nobody cannot read, e.g. root's home, so a
fresh ``setpriv python`` is not an option; a fork keeps the loaded modules.)
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from claude_proxy.settings import parse_settings
from claude_proxy.tools.base import ToolContext
from claude_proxy.tools.guard import prepare_command, sandbox_status
from claude_proxy.tools.guard.sandbox import _probe
from claude_proxy.tools.guard.sandbox.environment import _git_identity
from claude_proxy.tools.guard.sandbox.limits import process_limit

USERS = ["agent", "nobody"]
STATUS = sandbox_status(parse_settings({}))
needs_bwrap = pytest.mark.skipif(not STATUS.active, reason=f"no working bubblewrap: {STATUS.message}")


@dataclass
class Box:
    """A workspace and an outside directory that ``user`` owns, and a way to run commands there."""

    user: str
    workspace: Path
    outside: Path
    home: Path

    @property
    def uid(self) -> int:
        return os.getuid() if self.user == "agent" else pwd.getpwnam("nobody").pw_uid

    def context(self, cwd: Path | None = None, **settings: Any) -> ToolContext:
        return ToolContext(cwd=cwd or self.workspace, settings=parse_settings(settings))

    def run(self, command: str, cwd: Path | None = None, timeout: float = 60, **settings: Any) -> dict[str, Any]:
        """The command's exit status and output, run sandboxed by ``user``; skips when that cannot be."""
        context = self.context(cwd, **settings)
        result = as_user(self.user, self.home, lambda: _run(command, context, timeout))
        if "error" in result:
            raise AssertionError(f"the run as {self.user} failed: {result['error']}")
        if not result["sandboxed"]:
            pytest.skip(f"bubblewrap cannot sandbox {self.user} here: {result['status']}")
        return result


def _run(command: str, context: ToolContext, timeout: float) -> dict[str, Any]:
    status = sandbox_status(context.settings)
    if not status.active:  # never run a hostile command unsandboxed, not even as nobody
        return {"sandboxed": False, "status": status.message}
    prepared = prepare_command(["bash", "-c", command], context)
    try:
        done = subprocess.run(prepared.argv, env=prepared.env, cwd=context.cwd, capture_output=True,
                              text=True, timeout=timeout, check=False)
    finally:
        prepared.close()
    return {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr,
            "sandboxed": prepared.sandboxed, "status": status.message}


def as_user(user: str, home: Path, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``work()`` in this process (agent) or in a fork that became nobody, with HOME=``home``."""
    if user == "agent":
        old = os.environ.get("HOME")
        os.environ["HOME"] = str(home)
        try:
            return work()
        finally:
            if old is None:
                del os.environ["HOME"]
            else:
                os.environ["HOME"] = old
    entry = pwd.getpwnam("nobody")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setresgid(entry.pw_gid, entry.pw_gid, entry.pw_gid)
            os.setresuid(entry.pw_uid, entry.pw_uid, entry.pw_uid)
            os.environ["HOME"] = str(home)
            for cached in (_probe, process_limit, _git_identity):
                cached.cache_clear()
            payload = work()
            code = 0
        except BaseException as exc:  # noqa: BLE001 - anything goes back to the test as text
            payload = {"error": repr(exc)}
        finally:
            with os.fdopen(write, "w") as out:
                out.write(json.dumps(payload))
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as source:
        text = source.read()
    os.waitpid(pid, 0)
    return json.loads(text) if text else {"error": "the unprivileged run reported nothing"}


def make_box(user: str, template: Path, tmp_path: Path) -> Box:
    """Copy the template project; for nobody, somewhere nobody can reach, owned by nobody."""
    if user == "nobody" and os.geteuid() != 0:
        pytest.skip("not root, so the agent run already is the unprivileged one")
    base = Path(tempfile.mkdtemp(prefix="sandbox-box-", dir="/var/tmp"))
    os.chmod(base, 0o755)
    workspace = base / "ws"
    shutil.copytree(template, workspace, symlinks=True)
    home = base / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("FAKE-PRIVATE-KEY-material\n")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("aws_secret_access_key = FAKE-AWS-secret\n")
    outside = base / "outside"
    outside.mkdir()
    (outside / "canary").write_text("intact\n")
    if user == "nobody":
        entry = pwd.getpwnam("nobody")
        for top, dirs, files in os.walk(base):
            for name in [top, *(os.path.join(top, n) for n in dirs + files)]:
                os.lchown(name, entry.pw_uid, entry.pw_gid)
    return Box(user, workspace, outside, home)


def snapshot(path: Path) -> dict[str, tuple[int, bytes]]:
    """Every entry under ``path`` with its mode and content, to compare before and after."""
    found = {}
    for item in sorted(path.rglob("*")):
        data = item.read_bytes() if item.is_file() and not item.is_symlink() else b""
        found[str(item.relative_to(path))] = (item.lstat().st_mode, data)
    return found
