"""What a sandboxed command sees of the file system: an allow-list of mounts.

Nothing of the host is there unless it is named here: the system directories
read-only, ``/etc`` and ``/opt`` read-only without what only privileged users may read
(a command run by root would otherwise read ``/etc/shadow``; a tree too large to check
is left out), a private ``/tmp`` and home, the workspace roots read-write. So ``/root``,
``/home``, ``/run``, ``/var``, ``/srv``, ``/mnt``, ``/sys`` and the host's ``/tmp`` (and
the unix sockets in them) are absent.

Inside the workspace, files that run code or lower the guard later, outside the
sandbox (``.git/config``, ``.git/hooks``, ``.gitmodules``, the project settings file),
are bound read-only over themselves; when they do not exist an empty read-only
directory takes their place, so creating them is impossible too (git and the settings
loader ignore an empty directory). bubblewrap creates such a placeholder on the host
as its mount point; `MountPlan.cleanup` removes it when the command is over. The
``.git`` directory itself is a mount point, so it cannot be renamed away and replaced.
When a workspace root contains the user's home, its credential folders (``.ssh``,
``.aws``, ...) are hidden and its start-up files (shell rc files, ``.gitconfig``,
``.config/claude-proxy``, ...) are read-only.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from claude_proxy.settings import LOCAL_FILE

log = logging.getLogger(__name__)

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt")
FILTERED = ("/etc", "/opt")  # mounted without what only privileged users may read
SCAN_LIMIT = 100_000
# relative to each workspace root: read-only, created as read-only placeholders when missing
PROTECTED = (".gitmodules", LOCAL_FILE)
GIT_PROTECTED = ("config", "hooks")
GIT_READ_ONLY = ("modules", "worktrees", "commondir", "config.worktree")  # only when they exist
# relative to the user's home: hidden when a workspace root contains them
HOME_SECRETS = (".ssh", ".gnupg", ".aws", ".azure", ".config/gcloud", ".docker", ".kube", ".netrc",
                ".git-credentials", ".pypirc", ".npmrc", ".password-store", ".config/gh", ".pgpass")
# relative to the user's home: read-only when a workspace root contains them (they run code later)
HOME_STARTUP = (".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc", ".zshenv",
                ".zprofile", ".zlogin", ".gitconfig", ".config/git", ".config/claude-proxy", ".config/fish",
                ".config/autostart", ".config/systemd")


@dataclass
class MountPlan:
    """The bubblewrap mount arguments, the HOME the command gets, and what to tidy afterwards."""

    args: list[str] = field(default_factory=list)
    home: str = "/tmp"
    placeholders: list[Path] = field(default_factory=list)

    def bind(self, flag: str, path: Path | str) -> None:
        self.args += [flag, str(path), str(path)]

    def read_only(self, path: Path, *, directory_if_missing: bool = True) -> None:
        """Bind ``path`` read-only over itself; an empty read-only directory when it does not exist."""
        if path.exists() or path.is_symlink():
            self.bind("--ro-bind", path)
        elif directory_if_missing and path.parent.is_dir():
            self.placeholders.append(path)
            self.args += ["--tmpfs", str(path), "--remount-ro", str(path)]

    def hide(self, path: Path) -> None:
        """Cover ``path`` with something empty: /dev/null for a file, an empty tmpfs for a directory."""
        if path.is_dir():
            self.args += ["--tmpfs", str(path), "--remount-ro", str(path)]
        else:
            self.args += ["--ro-bind", "/dev/null", str(path)]

    def cleanup(self) -> None:
        """Remove the placeholders bubblewrap created on the host (each is an empty directory)."""
        for path in self.placeholders:
            try:
                path.rmdir()
            except OSError as exc:
                log.debug("sandbox placeholder %s left in place: %s", path, exc)


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _holds_system(path: Path) -> bool:
    """A root such as ``/`` would make the system writable again: it is left out (and logged)."""
    if any(_inside(Path(system), [path]) for system in ("/etc", *SYSTEM_DIRS)):
        log.warning("not mounting %s in the sandbox: it contains system directories", path)
        return True
    return False


@lru_cache(maxsize=4)
def _private(top: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """Entries under ``top`` that not every user may read (to hide: root would read them), and
    the targets of its top-level symlinks that point out of the mounted directories
    (resolv.conf); None when ``top`` holds more than `SCAN_LIMIT` entries (not mounted then)."""
    hidden: list[str] = []
    targets: list[str] = []
    seen = 0
    for here, dirs, files in os.walk(top):
        for name in list(dirs) + files:
            seen += 1
            if seen > SCAN_LIMIT:
                return None
            path = os.path.join(here, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                if here == top:
                    _outside_target(path, targets)
                continue
            needed = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(info.st_mode) else 0)
            if info.st_mode & needed != needed:
                hidden.append(path)
                if name in dirs:
                    dirs.remove(name)
    return tuple(hidden), tuple(targets)


def _outside_target(link: str, targets: list[str]) -> None:
    real = os.path.realpath(link)
    mounted = ("/etc", "/proc", "/dev", "/sys", *SYSTEM_DIRS)
    if not any(real == d or real.startswith(d + "/") for d in mounted) and os.path.isfile(real) \
            and os.stat(real).st_mode & stat.S_IROTH:
        targets.append(real)


def _system(plan: MountPlan) -> None:
    for name in SYSTEM_DIRS:
        if os.path.islink(name):
            plan.args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name) and name not in FILTERED:
            plan.bind("--ro-bind", name)
    for name in FILTERED:
        found = _private(name) if os.path.isdir(name) and not os.path.islink(name) else None
        if found is None:
            if os.path.isdir(name):
                log.warning("not mounting %s in the sandbox: more than %d entries to check", name, SCAN_LIMIT)
            continue
        plan.bind("--ro-bind", name)
        hidden, targets = found
        for path in hidden:
            plan.hide(Path(path))
        for target in targets:
            plan.bind("--ro-bind", target)
    plan.args += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]


def _home(plan: MountPlan, roots: list[Path]) -> Path | None:
    """A private empty home at the user's home path, unless a workspace root holds it."""
    home = Path(os.path.realpath(os.path.expanduser("~")))
    if _inside(home, roots):
        plan.home = str(home)
        return home
    system = ("/etc", "/tmp", "/proc", "/dev", *SYSTEM_DIRS)
    if home != Path("/") and not any(home == Path(s) or Path(s) in home.parents for s in system):
        plan.args += ["--tmpfs", str(home)]
        plan.home = str(home)
    return home


def _git(plan: MountPlan, root: Path) -> None:
    """Pin the repository's admin directory and make what runs code later read-only."""
    dotgit = root / ".git"
    if dotgit.is_file():
        _linked_git(plan, dotgit)
        return
    if not dotgit.is_dir():
        plan.read_only(dotgit)  # no repository: no `git init` that would write a config
        return
    plan.bind("--bind", dotgit)
    for name in GIT_PROTECTED:
        plan.read_only(dotgit / name)
    for name in GIT_READ_ONLY:
        plan.read_only(dotgit / name, directory_if_missing=False)


def _linked_git(plan: MountPlan, dotgit: Path) -> None:
    """A worktree or submodule: ``.git`` names the admin directory, which lives elsewhere."""
    try:
        text = dotgit.read_text(errors="replace").strip()
    except OSError:
        return
    if not text.startswith("gitdir:"):
        return
    gitdir = Path(os.path.realpath(dotgit.parent / text.removeprefix("gitdir:").strip()))
    common = gitdir
    try:
        common = Path(os.path.realpath(gitdir / (gitdir / "commondir").read_text().strip()))
    except OSError:
        pass
    plan.bind("--ro-bind", dotgit)
    if not gitdir.is_dir():
        return
    if common != gitdir and common.is_dir():
        plan.bind("--bind", common)
        for name in (*GIT_PROTECTED, *GIT_READ_ONLY):
            plan.read_only(common / name, directory_if_missing=name in GIT_PROTECTED)
    plan.bind("--bind", gitdir)
    for name in (*GIT_PROTECTED, *GIT_READ_ONLY, "gitdir"):
        plan.read_only(gitdir / name, directory_if_missing=name in GIT_PROTECTED and common == gitdir)


def mount_plan(workspace: list[Path], writable: list[Path]) -> MountPlan:
    """The mounts for one command: ``workspace`` roots (guarded) and ``writable`` extra paths."""
    plan = MountPlan()
    _system(plan)
    roots = [r for r in workspace if r.is_dir() and not _holds_system(r)]
    home = _home(plan, roots)
    for root in roots:
        plan.bind("--bind", root)
    for path in writable:
        if path.is_dir() and path not in roots and not _holds_system(path):
            plan.bind("--bind", path)
    for root in roots:
        _git(plan, root)
        for name in PROTECTED:
            plan.read_only(root / name)
    if home is not None:
        for name in HOME_SECRETS:
            secret = home / name
            if _inside(secret, roots) and (secret.exists() or secret.is_symlink()):
                plan.hide(secret)
        for name in HOME_STARTUP:
            if _inside(home / name, roots):
                plan.read_only(home / name, directory_if_missing=False)
    plan.args += ["--remount-ro", "/"]
    return plan
