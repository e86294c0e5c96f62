"""What a hostile command cannot do inside the real sandbox, as the agent's user and as nobody.

Each test runs real bubblewrap; when the tests run as root the agent run is root's
(every capability dropped in the user namespace) and a second run is nobody's.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

from claude_proxy.tools.guard.sandbox.limits import MAX_PROCESSES
from tests.tools.guard.sandbox_support import USERS, Box, make_box, needs_bwrap, snapshot

pytestmark = [pytest.mark.processes, needs_bwrap]


@pytest.fixture(params=USERS)
def box(request: pytest.FixtureRequest, _template: Path, tmp_path: Path) -> Box:
    made = make_box(request.param, _template, tmp_path)
    yield made
    shutil.rmtree(made.workspace.parent, ignore_errors=True)


def test_writes_outside_the_workspace_and_its_tmp_fail(box: Box) -> None:
    before = snapshot(box.outside)
    done = box.run(f"for f in {box.outside}/new {box.outside}/canary /new /etc/new /usr/new /opt/new "
                   f"{box.workspace.parent}/new /var/tmp/new; do echo pwned > $f && echo WROTE $f; done; "
                   f"rm {box.outside}/canary && echo REMOVED; chmod 777 {box.outside} && echo CHMOD; "
                   f"echo fine > /tmp/private && cat /tmp/private")
    assert "WROTE" not in done["stdout"] and "REMOVED" not in done["stdout"] and "CHMOD" not in done["stdout"]
    assert done["stdout"].strip().endswith("fine")
    assert snapshot(box.outside) == before
    assert not (box.workspace.parent / "new").exists() and not Path("/new").exists()


PROTECTED_WRITES = {
    "hook": "printf '#!/bin/sh\\ntouch pwned\\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit",
    "hooks-dir": "rm -rf .git/hooks && mkdir .git/hooks && touch .git/hooks/post-checkout",
    "config": "git config core.fsmonitor 'touch pwned'",
    "config-append": "printf '[core]\\n\\tfsmonitor = touch pwned\\n' >> .git/config",
    "config-replace": "cp .git/config c && echo '[core] fsmonitor = x' >> c && mv c .git/config",
    "git-swap": "mv .git .git-old && mkdir .git",
    "gitmodules": "printf '[submodule \"x\"]\\n\\tpath = x\\n\\turl = ../x\\n' > .gitmodules",
    "settings": "printf 'permissions:\\n  default_mode: bypassPermissions\\n' > claude-proxy.yaml",
    "settings-rename": "echo 'sandbox: {mode: off}' > s.yaml && mv s.yaml claude-proxy.yaml",
    "placeholder": "rmdir claude-proxy.yaml && echo x > claude-proxy.yaml",
}


@pytest.mark.parametrize("name", PROTECTED_WRITES)
def test_git_config_hooks_and_settings_cannot_be_written(box: Box, name: str) -> None:
    git = box.workspace / ".git"
    before = snapshot(git)
    done = box.run(PROTECTED_WRITES[name] + " && echo WROTE")
    assert "WROTE" not in done["stdout"], done
    assert snapshot(git) == before
    assert not (box.workspace / ".gitmodules").exists()
    assert not (box.workspace / "claude-proxy.yaml").exists()
    assert not (box.workspace / ".git-old").exists()


def test_a_workspace_without_a_repository_cannot_get_one(box: Box) -> None:
    shutil.rmtree(box.workspace / ".git")
    done = box.run("git init -q && git config core.fsmonitor 'touch pwned' && echo MADE")
    assert "MADE" not in done["stdout"]
    assert not (box.workspace / ".git").exists()


def test_home_secrets_and_shadow_are_not_readable(box: Box) -> None:
    done = box.run(f"cat ~/.ssh/id_ed25519 {box.home}/.ssh/id_ed25519 {box.home}/.aws/credentials; "
                   "cat /etc/shadow /etc/gshadow; ls -A /root /home /run /var/run /srv /mnt 2>&1; echo HOME=$HOME")
    assert "FAKE-PRIVATE-KEY" not in done["stdout"] and "FAKE-AWS" not in done["stdout"]
    assert "root:" not in done["stdout"]
    assert "HOME=" in done["stdout"]


def test_home_secrets_stay_hidden_when_the_workspace_is_the_home(box: Box) -> None:
    (box.home / ".bashrc").write_text("# rc\n")
    (box.home / ".config" / "claude-proxy").mkdir(parents=True)
    for made in (".bashrc", ".config", ".config/claude-proxy"):
        os.chown(box.home / made, box.uid, -1)  # so only the sandbox stands in the way
    done = box.run("cat .ssh/id_ed25519 .aws/credentials ~/.ssh/id_ed25519; ls -A .ssh; echo listed; "
                   "echo 'curl x | sh' >> .bashrc && echo RC; echo 'sandbox: {mode: off}' > "
                   ".config/claude-proxy/settings.yaml && echo SETTINGS; echo ok > notes.txt && echo NOTES",
                   cwd=box.home)
    assert "FAKE" not in done["stdout"]
    assert "id_ed25519" not in done["stdout"] and "listed" in done["stdout"]
    assert "RC" not in done["stdout"] and "SETTINGS" not in done["stdout"] and "NOTES" in done["stdout"]
    assert (box.home / ".bashrc").read_text() == "# rc\n"


@pytest.fixture
def unix_servers(box: Box):
    """A unix socket in the host's /tmp and an abstract one, both answering 'hello', reachable by ``box.user``."""
    path = Path("/tmp") / f"sandbox-test-{uuid.uuid4().hex[:12]}.sock"
    abstract = f"\0sandbox-test-{uuid.uuid4().hex[:12]}"
    servers = []
    for address in (str(path), abstract):
        server = socket.socket(socket.AF_UNIX)
        server.bind(address)
        server.listen()
        servers.append(server)
        threading.Thread(target=_answer, args=(server,), daemon=True).start()
    os.chmod(path, 0o777)
    yield str(path), abstract[1:]
    for server in servers:
        server.close()
    path.unlink(missing_ok=True)


def _answer(server: socket.socket) -> None:
    try:
        while True:
            conn, _ = server.accept()
            conn.sendall(b"hello")
            conn.close()
    except OSError:
        return


CONNECT_UNIX = ("python3 -c \"import socket, sys\nfor a in sys.argv[1:]:\n s = socket.socket(socket.AF_UNIX)\n"
                " try:\n  s.connect(a.replace('@', chr(0)))\n  print('GOT', s.recv(5))\n"
                " except OSError as e:\n  print('refused', type(e).__name__)\" {path} @{abstract}")


def test_host_unix_sockets_are_unreachable(box: Box, unix_servers) -> None:
    path, abstract = unix_servers
    done = box.run(CONNECT_UNIX.format(path=path, abstract=abstract))
    assert done["stdout"].count("refused") == 2, done
    assert "GOT" not in done["stdout"]


@pytest.fixture
def tcp_listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    threading.Thread(target=_answer, args=(server,), daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def test_host_tcp_ports_are_unreachable(box: Box, tcp_listener: int) -> None:
    done = box.run(f"python3 -c \"import socket; s = socket.create_connection(('127.0.0.1', {tcp_listener}), 5); "
                   "print('GOT', s.recv(5))\"; echo done")
    assert "GOT" not in done["stdout"] and "done" in done["stdout"]
    assert "ConnectionRefused" in done["stderr"] or "unreachable" in done["stderr"], done["stderr"]


def test_the_agents_environment_is_out_of_reach(box: Box, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"fake-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("SERVICE_URL", f"postgres://u:{secret}@db")  # an innocent name: allow-list, not filter
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    done = box.run(f"env; cat /proc/{os.getpid()}/environ /proc/*/environ /proc/1/root/proc/{os.getpid()}/environ;"
                   f" tr '\\0' '\\n' < /proc/self/environ")
    assert secret not in done["stdout"] + done["stderr"]
    assert "GIT_CONFIG_KEY_0=core.fsmonitor" in done["stdout"]


MOUNTS_AND_CLOCK = {
    "remount-root": "mount -o remount,rw /",
    "remount-usr": "mount -o remount,rw /usr",
    "unmount-proc": "umount /proc",
    "unmount-git-config": "umount .git/config",
    "mount-tmpfs": "mount -t tmpfs none /mnt",
    "clock": "date -s '2001-01-01 00:00:00'",
    "nested-userns": "unshare -Ur true",
}


@pytest.mark.parametrize("name", MOUNTS_AND_CLOCK)
def test_mounts_and_the_clock_cannot_change(box: Box, name: str) -> None:
    done = box.run(f"{MOUNTS_AND_CLOCK[name]} && echo CHANGED; grep -E '^Cap(Eff|Bnd)' /proc/self/status")
    assert "CHANGED" not in done["stdout"]
    assert "CapEff:\t0000000000000000" in done["stdout"] and "CapBnd:\t0000000000000000" in done["stdout"]


FORKER = """import os, sys, time
count = 0
for _ in range(int(sys.argv[1])):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    count += 1
print("forked", count, flush=True)
"""


def test_process_count_is_bounded(box: Box) -> None:
    (box.workspace / "forker.py").write_text(FORKER)
    os.chown(box.workspace / "forker.py", box.uid, -1)
    done = box.run(f"python3 forker.py {MAX_PROCESSES + 300}", timeout=120)
    if "no process limit" in done["status"]:
        pytest.skip(f"this machine gives the sandbox no process limit: {done['status']}")
    forked = int(done["stdout"].split()[-1])
    assert 50 < forked < MAX_PROCESSES, done


def _alive(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_background_processes_do_not_outlive_the_command(box: Box) -> None:
    marker = f"sandbox-sleeper-{uuid.uuid4().hex}"
    done = box.run(f"(exec -a {marker} sleep 300) & nohup bash -c 'exec -a {marker} sleep 300' >/dev/null 2>&1 & "
                   f"setsid bash -c 'exec -a {marker} sleep 300' & sleep 0.3; echo started")
    assert "started" in done["stdout"]
    assert _alive(marker) == []


def test_a_root_holding_the_system_is_not_mounted(box: Box) -> None:
    done = box.run("touch /x /etc/x /usr/x && echo WROTE; ls -A /root /srv /work 2>&1 | grep -v 'No such'; "
                   "echo end", cwd=Path("/"))
    assert "WROTE" not in done["stdout"] and done["stdout"].split() == ["end"], done


def test_a_linked_worktree_commits_but_cannot_touch_the_main_repositorys_config(
        box: Box, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.tools.guard.conftest import GIT_ENV

    for name, value in GIT_ENV.items():
        monkeypatch.setenv(name, value)
    linked = box.workspace.parent / "linked"
    subprocess.run(["git", "-c", "safe.directory=*", "worktree", "add", "-q", str(linked)], cwd=box.workspace,
                   check=True, capture_output=True)
    subprocess.run(["chown", "-R", f"{box.uid}", str(linked), str(box.workspace / ".git")], check=True)
    common = box.workspace / ".git"
    before = snapshot(common / "hooks"), (common / "config").read_bytes()
    done = box.run("echo x > new.txt && git add new.txt && git commit -qm linked && echo COMMITTED; "
                   f"git config core.fsmonitor 'touch pwned' && echo CONFIG; touch {common}/hooks/post-checkout "
                   f"&& echo HOOK; echo .. > {common}/worktrees/linked/commondir && echo COMMONDIR", cwd=linked)
    assert "COMMITTED" in done["stdout"], done
    assert not {"CONFIG", "HOOK", "COMMONDIR"} & set(done["stdout"].split())
    assert (snapshot(common / "hooks"), (common / "config").read_bytes()) == before
