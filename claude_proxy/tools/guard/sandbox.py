"""The OS sandbox under Bash: bubblewrap, so a validator miss still cannot escape.

With ``sandbox.mode`` ``auto`` (bwrap when it is installed and works) or ``bwrap``
(required), a shell command runs with the whole file system read-only except the
workspace roots (and ``sandbox.writable_paths``), a private ``/tmp``, fresh ``/dev``
and ``/proc``, its own PID namespace (everything it started dies with it), no
network unless ``sandbox.network`` is true, ``--die-with-parent`` (killed when the
agent dies) and ``--new-session`` (no typing into the user's terminal).
``auto`` without a working bwrap warns once and runs unsandboxed, relying on the
command validator; ``bwrap`` without it is an error; ``off`` runs unsandboxed.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from claude_proxy.settings import Settings
from claude_proxy.tools.base import ToolContext
from claude_proxy.tools.guard.paths import workspace_roots

log = logging.getLogger(__name__)
_warned = False


class SandboxUnavailable(Exception):
    """``sandbox.mode: bwrap`` but bubblewrap is missing or cannot create a sandbox."""


@dataclass
class SandboxStatus:
    """What the sandbox will do, for `claude-proxy tools` and the chat banner."""

    mode: str
    active: bool
    network: bool
    bwrap: str | None
    message: str


def _section(settings: Settings) -> tuple[str, bool, list[str]]:
    sandbox = settings.sandbox
    return sandbox.mode, sandbox.network, list(sandbox.writable_paths)


@lru_cache(maxsize=4)
def _probe(bwrap: str) -> str | None:
    """Run a trivial sandbox once; None when bwrap works here, else why it does not."""
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid",
            "--unshare-net", "--die-with-parent", "--new-session", "--", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return None


def sandbox_status(settings: Settings) -> SandboxStatus:
    """Whether shell commands will run sandboxed under these settings, and why (not)."""
    mode, network, _ = _section(settings)
    if mode == "off":
        return SandboxStatus(mode, False, network, None, "sandbox off (sandbox.mode: off)")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return SandboxStatus(mode, False, network, None, "bubblewrap (bwrap) is not installed")
    problem = _probe(bwrap)
    if problem:
        return SandboxStatus(mode, False, network, bwrap, f"bubblewrap cannot create a sandbox here: {problem}")
    net = "network allowed" if network else "no network"
    return SandboxStatus(mode, True, network, bwrap, f"bubblewrap sandbox ({net})")


def sandbox_argv(argv: list[str], context: ToolContext) -> list[str]:
    """Wrap ``argv`` so it runs inside the sandbox the settings ask for.

    Raises `SandboxUnavailable` when ``sandbox.mode`` is ``bwrap`` and bubblewrap
    cannot be used; the Bash tool reports that as an ``is_error`` result.
    """
    global _warned
    status = sandbox_status(context.settings)
    if not status.active:
        if status.mode == "bwrap":
            raise SandboxUnavailable(f"sandbox.mode is bwrap but {status.message}; install bubblewrap "
                                     "or set sandbox.mode to auto or off")
        if status.mode == "auto" and not _warned:
            _warned = True
            log.warning("running shell commands without an OS sandbox: %s; only the command validator "
                        "protects this machine", status.message)
        return list(argv)
    _, network, writable = _section(context.settings)
    wrapped = [status.bwrap or "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    roots = workspace_roots(context)
    for extra in writable:
        path = Path(os.path.realpath(os.path.expanduser(extra)))
        if path not in roots:
            roots.append(path)
    for root in roots:
        if root.is_dir():
            wrapped += ["--bind", str(root), str(root)]
    wrapped += ["--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session"]
    if not network:
        wrapped.append("--unshare-net")
    wrapped += ["--chdir", str(roots[0]), "--", *argv]
    return wrapped
