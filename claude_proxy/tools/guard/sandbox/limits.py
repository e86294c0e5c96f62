"""The sandbox's process limit: a pids cgroup when one can be made, else RLIMIT_NPROC inside.

Measured on Linux 6.x (fork until it fails, limit 30):

- ``RLIMIT_NPROC`` set *inside* the sandbox's user namespace bounds an unprivileged
  user (28 forks): since Linux 5.14 the count is kept per user namespace, so only the
  sandbox's own processes count. Set *outside*, before bubblewrap, it is checked
  against every process of that uid on the machine, so a busy desktop could not fork
  at all. It is not enforced for root (uid 0 outside is exempt): 400 of 400 forks.
- A pids cgroup (``pids.max``) bounds everyone, root included (27 forks), but needs a
  writable cgroup with the pids controller: cgroup v2 delegated to the user (systemd's
  ``user@UID.service``) or owned by root, or the v1 pids hierarchy as root.

So: a child cgroup of the agent's own (or the nearest delegated ancestor) when one
can be created, and the rlimit inside the namespace besides; root without a writable
pids cgroup has no limit, and `process_limit` says so.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

MAX_PROCESSES = 1024
_counter = itertools.count()


def _mounts() -> tuple[str | None, str | None]:
    """The cgroup v2 mount point and the v1 pids hierarchy's, from /proc/self/mountinfo."""
    v2 = v1 = None
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] == "cgroup2" and v2 is None:
            v2 = fields[4]
        elif tail[0] == "cgroup" and "pids" in tail[2].split(",") and v1 is None:
            v1 = fields[4]
    return v2, v1


def _own_cgroups() -> tuple[str | None, str | None]:
    """This process's cgroup paths: v2 (``0::/path``) and v1 pids."""
    v2 = v1 = None
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        ident, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if ident == "0" and controllers == "":
            v2 = path
        elif "pids" in controllers.split(","):
            v1 = path
    return v2, v1


def _candidates() -> list[Path]:
    """Directories where a child pids cgroup could be made, nearest first."""
    (v2_mount, v1_mount), (v2_path, v1_path) = _mounts(), _own_cgroups()
    found: list[Path] = []
    if v2_mount and v2_path is not None:
        mount = Path(v2_mount)
        here = mount / v2_path.lstrip("/")
        for directory in [here, *here.parents]:
            if directory != mount and mount not in directory.parents:
                break
            try:
                enabled = (directory / "cgroup.subtree_control").read_text().split()
            except OSError:
                continue
            if "pids" in enabled and os.access(directory, os.W_OK):
                found.append(directory)
    if v1_mount and v1_path is not None:
        directory = Path(v1_mount) / v1_path.lstrip("/")
        if os.access(directory, os.W_OK):
            found.append(directory)
    return found


@dataclass
class ProcessLimit:
    """How many processes one sandboxed command may have, and by what means."""

    limit: int
    cgroup_parent: Path | None

    @property
    def description(self) -> str:
        if self.cgroup_parent is not None:
            return f"at most {self.limit} processes (pids cgroup)"
        if os.geteuid() == 0:
            return "no process limit (root without a writable pids cgroup)"
        return f"at most {self.limit} processes (RLIMIT_NPROC in its user namespace)"

    def inner(self, argv: list[str]) -> list[str]:
        """Set RLIMIT_NPROC inside the namespace, where only the sandbox's processes count."""
        prlimit = shutil.which("prlimit")
        if prlimit:
            return [prlimit, f"--nproc={self.limit}", "--", *argv]
        bash = shutil.which("bash")
        if bash:
            return [bash, "-c", f'ulimit -u {self.limit} && exec "$@"', "sandbox-limit", *argv]
        return list(argv)

    def cgroup(self) -> Path | None:
        """A fresh child cgroup with ``pids.max`` set, or None when none can be made now."""
        if self.cgroup_parent is None:
            return None
        path = self.cgroup_parent / f"claude-proxy-sandbox-{os.getpid()}-{next(_counter)}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(self.limit))
        except OSError as exc:
            log.warning("cannot make a pids cgroup under %s: %s", self.cgroup_parent, exc)
            remove_cgroup(path)
            return None
        return path


def outer(argv: list[str], cgroup: Path) -> list[str]:
    """Start ``argv`` (bubblewrap) already inside ``cgroup``: a shell moves itself in, then execs."""
    return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(cgroup), *argv]


def remove_cgroup(path: Path, wait: float = 2.0) -> None:
    """Remove a cgroup once its last process is gone (the pid namespace dies asynchronously)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                log.warning("pids cgroup %s left behind: %s", path, exc)
                return
            time.sleep(0.02)


@lru_cache(maxsize=1)
def process_limit() -> ProcessLimit:
    """Probe once for a pids cgroup this process can create and join."""
    for parent in _candidates():
        limit = ProcessLimit(MAX_PROCESSES, parent)
        path = limit.cgroup()
        if path is None:
            continue
        try:
            done = subprocess.run(outer(["/bin/true"], path), capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            done = None
        remove_cgroup(path)
        if done is not None and done.returncode == 0:
            _remove_stale(parent)
            return limit
    return ProcessLimit(MAX_PROCESSES, None)


def _remove_stale(parent: Path) -> None:
    """Empty cgroups an agent that was killed left behind (its pid is in the name)."""
    for path in parent.glob("claude-proxy-sandbox-*-*"):
        try:
            owner = int(path.name.split("-")[-2])
            os.kill(owner, 0)
        except ValueError:
            continue
        except ProcessLookupError:
            remove_cgroup(path, wait=0)
        except PermissionError:
            continue
