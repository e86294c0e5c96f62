"""The OS sandbox under Bash: bubblewrap, so a validator miss or a "yes" still cannot escape.

`prepare_command(argv, context)` turns a shell command into a `SandboxCommand` (argv,
environment, and a `close` that tidies up after it); `sandbox_status(settings)` says
what the sandbox will do. With ``sandbox.mode`` ``auto`` (bubblewrap when it works
here) or ``bwrap`` (required), a command runs:

- in a user namespace with every capability dropped, root included (it cannot
  remount, unmount, set the clock or load anything), and no nested user namespaces;
- in new PID, IPC, UTS, cgroup and (unless ``sandbox.network``) network namespaces,
  which also closes abstract unix sockets; ``--new-session`` (no typing into the
  user's terminal); ``--die-with-parent``. When the command's shell ends, or the call
  times out and the Bash tool kills bubblewrap, the whole PID namespace dies with it;
- seeing only the mounts in ``mounts`` (system directories read-only, the workspace
  read-write with its git config, hooks and settings read-only, a private /tmp and
  home); within the process limit of ``limits``; with the environment of
  ``environment``.

``auto`` without a working bubblewrap (probed once) warns once and runs commands
unsandboxed; ``fallback.SandboxAwareGuard`` then asks for every command that is not
proven safe. ``bwrap`` without it is an error; ``off`` runs unsandboxed.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from claude_proxy.settings import Settings
from claude_proxy.tools.base import ToolContext
from claude_proxy.tools.guard.paths import workspace_roots
from claude_proxy.tools.guard.sandbox.environment import command_env
from claude_proxy.tools.guard.sandbox.limits import outer, process_limit, remove_cgroup
from claude_proxy.tools.guard.sandbox.mounts import mount_plan

log = logging.getLogger(__name__)
_warned = False

NAMESPACES = ("--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup")
HARDENING = ("--cap-drop", "ALL", "--die-with-parent", "--new-session", "--hostname", "sandbox")


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


@dataclass
class SandboxCommand:
    """A command ready to start: call `close` once it has ended (removes placeholders, cgroup)."""

    argv: list[str]
    env: dict[str, str]
    sandboxed: bool
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for cleanup in self.cleanups:
            cleanup()
        self.cleanups.clear()


@lru_cache(maxsize=4)
def _hardening(bwrap: str) -> tuple[str, ...]:
    """`HARDENING`, plus no nested user namespaces where this bubblewrap (0.8+) can say so."""
    try:
        done = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return HARDENING
    return (*HARDENING, "--disable-userns") if "--disable-userns" in done.stdout else HARDENING


@lru_cache(maxsize=4)
def _probe(bwrap: str) -> str | None:
    """Create one sandbox with every namespace; None when that works here, else why not."""
    argv = [bwrap, *NAMESPACES, "--unshare-net", *_hardening(bwrap), "--ro-bind", "/", "/",
            "--proc", "/proc", "--dev", "/dev", "--", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return None


def sandbox_status(settings: Settings) -> SandboxStatus:
    """Whether shell commands will run sandboxed under these settings, and why (not)."""
    mode, network = settings.sandbox.mode, settings.sandbox.network
    if mode == "off":
        return SandboxStatus(mode, False, network, None, "sandbox off (sandbox.mode: off)")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return SandboxStatus(mode, False, network, None, "bubblewrap (bwrap) is not installed")
    problem = _probe(bwrap)
    if problem:
        return SandboxStatus(mode, False, network, bwrap,
                             f"bubblewrap cannot create a user namespace here: {problem}")
    net = "network allowed" if network else "no network"
    return SandboxStatus(mode, True, network, bwrap,
                         f"bubblewrap sandbox ({net}, {process_limit().description})")


def _unsandboxed(argv: list[str], context: ToolContext, status: SandboxStatus) -> SandboxCommand:
    global _warned
    if status.mode == "bwrap":
        raise SandboxUnavailable(f"sandbox.mode is bwrap but {status.message}; install bubblewrap "
                                 "or set sandbox.mode to auto or off")
    if status.mode == "auto" and not _warned:
        _warned = True
        log.warning("running shell commands without an OS sandbox: %s; every command that is not "
                    "proven safe is asked about", status.message)
    env = command_env(pass_all=context.settings.tools.bash.pass_secret_env, home=None, sandboxed=False)
    return SandboxCommand(list(argv), env, False)


def prepare_command(argv: list[str], context: ToolContext) -> SandboxCommand:
    """Wrap ``argv`` for the sandbox the settings ask for, with the environment it gets.

    Raises `SandboxUnavailable` when ``sandbox.mode`` is ``bwrap`` and bubblewrap cannot
    be used, or when the mounts cannot be worked out; the Bash tool reports that as an
    ``is_error`` result and runs nothing.
    """
    settings = context.settings
    status = sandbox_status(settings)
    if not status.active:
        return _unsandboxed(argv, context, status)
    roots = workspace_roots(context)
    writable = [Path(os.path.realpath(os.path.expanduser(p))) for p in settings.sandbox.writable_paths]
    try:
        plan = mount_plan(roots, writable)
    except OSError as exc:  # a root or a git file we cannot inspect: refuse rather than guess
        raise SandboxUnavailable(f"cannot prepare the sandbox's mounts: {exc}") from exc
    limit = process_limit()
    bwrap = status.bwrap or "bwrap"
    wrapped = [bwrap, *NAMESPACES, *_hardening(bwrap)]
    if not status.network:
        wrapped.append("--unshare-net")
    wrapped += [*plan.args, "--chdir", str(roots[0]), "--", *limit.inner(argv)]
    command = SandboxCommand(wrapped, command_env(pass_all=settings.tools.bash.pass_secret_env,
                                                  home=plan.home, sandboxed=True), True, [plan.cleanup])
    cgroup = limit.cgroup()
    if cgroup is not None:
        command.argv = outer(wrapped, cgroup)
        command.cleanups.append(lambda: remove_cgroup(cgroup))
    return command
