"""Child processes of a bench run: free ports, start, wait until listening, RSS, stop.

Every process is started in its own session so that stopping it also stops any
workers it forked, and only processes this run started are ever signalled.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
_SOURCE = {"root": REPO}


def set_source(root: Path) -> None:
    """Measure the claude_proxy of another checkout (the bench's own code still runs from here)."""
    _SOURCE["root"] = Path(root).resolve()


def source() -> Path:
    """The checkout whose `claude_proxy` is measured."""
    return _SOURCE["root"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raise_nofile() -> tuple[int, int]:
    """Raise the soft open-files limit to the hard one (children inherit it)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def python_env(root: Path | None = None, **extra: str) -> dict[str, str]:
    """An environment whose `python -m ...` imports from `root` first (default: this checkout)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_PROXY_"))}
    env["PYTHONPATH"] = str(root or REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


class StartError(RuntimeError):
    """A child that exited or never listened; the message carries its stderr tail."""


@dataclass
class Proc:
    """One started child process listening on a port."""

    name: str
    popen: subprocess.Popen
    port: int
    log_path: Path
    extra: dict = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def tree(self) -> list[int]:
        """This process and all of its descendants."""
        return [self.pid, *descendants(self.pid)]

    def rss_bytes(self) -> int:
        """Resident memory of the process and all its descendants (workers included)."""
        return sum(rss_bytes(pid) for pid in self.tree())

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the process and its descendants."""
        return tree_cpu_seconds(self.pid)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM the process group, then SIGKILL what is left after `timeout`."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop on SIGTERM; killing it", self.name)
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(5)
        return self.popen.returncode


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`."""
    children = _children_map()
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int:
    """utime + stime + the reaped children's cutime + cstime of one process, 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return 0
    rest = stat[stat.rindex(b")") + 2:].split()
    return sum(int(x) for x in rest[11:15])


def tree_cpu_seconds(pid: int) -> float:
    """CPU time used so far by ``pid`` and its live descendants; exited ones count through their reaped parent."""
    return sum(cpu_ticks(p) for p in [pid, *descendants(pid)]) / _TICK


def rss_bytes(pid: int) -> int:
    """VmRSS of one process, 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def wait_listening(proc: Proc, timeout: float = 20.0) -> None:
    """Block until the port accepts connections; StartError if the child dies or never listens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise StartError(f"{proc.name} exited with {proc.popen.returncode}: {proc.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", proc.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    proc.stop()
    raise StartError(f"{proc.name} did not listen on port {proc.port} within {timeout:.0f} s: {proc.tail()}")


def spawn(name: str, argv: list[str], *, port: int, workdir: Path, env: dict[str, str] | None = None,
          wait: bool = True) -> Proc:
    """Start `argv` in its own session with output to a log file in `workdir`."""
    log_path = workdir / f"{name}.log"
    out = open(log_path, "ab")
    popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env or python_env(), cwd=workdir, start_new_session=True)
    out.close()
    proc = Proc(name, popen, port, log_path)
    if wait:
        wait_listening(proc)
    return proc


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
