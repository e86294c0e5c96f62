"""The path validator: every file a tool touches must resolve inside the workspace.

The workspace is the working directory plus ``context.extra_roots`` and
``settings.tools.extra_roots``. A path is resolved by `beneath.locate`: one component
at a time with ``O_NOFOLLOW`` from a directory fd of a root (``~`` expanded, relative
to the working directory, symlinks followed by reading them, the parent of a
not-yet-existing file included), so what is judged is what will be opened. Both
every symlink entry passed and what the path finally names must be allowed, so a
symlink cannot smuggle a tool out of the workspace or into a protected place.
`located` hands the tools the open directory fd they then do their I/O through;
`check_path` is the same judgement for callers that only need the verdict.

Protected places, refused even inside the workspace:

- NUL bytes, device files, FIFOs and sockets, anything under /dev, /proc and /sys;
- anything under ``.ssh`` or ``.gnupg`` (read or write);
- writes into ``.git`` internals (``.git/config``, hooks, ...; reading is fine), to
  files a shell or git runs code from (``.bashrc``, ``.profile``, ``.gitconfig``,
  ...) and to the settings files claude-proxy loads (`protected.settings_reason`);
- regular files with more than one hard link, unless an allow rule names them: their
  other names may lie outside (a key, a secret) and cannot be found without scanning
  every file system, and a read would show that file's contents;
- secrets (``.env*``, ``.netrc``, ``.npmrc``, ``.pypirc``, private keys, ``.aws``,
  ...) unless an allow rule such as ``Read(./.env)`` names them;
- whatever a ``Read(...)`` (for reads) or ``Edit(...)`` (for writes) deny rule
  matches, so deny rules hold for every tool, Bash included.

Every failure, a limit (``PATH_MAX``, ``NAME_MAX``, symlink depth) or a system call
error included, is a `PathDenied` with the reason, never another exception.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pathspec

from claude_proxy.permission_rules import (
    EDIT_TOOLS,
    READ_TOOLS,
    Rule,
    match_path,
    path_specifier,
    session_rules,
    settings_rules,
)
from claude_proxy.tools.base import Behavior, ToolContext
from claude_proxy.tools.guard.beneath import Escape, Located, WalkError, locate
from claude_proxy.tools.guard.protected import SHELL_STARTUP, settings_reason

NO_ACCESS_DIRS = frozenset({".ssh", ".gnupg"})
SECRET_DIRS = frozenset({".aws", ".kube", ".azure"})
SECRET_NAMES = (
    ".env", ".env.*", ".envrc", ".netrc", "_netrc", ".pgpass", ".npmrc", ".pypirc",
    ".git-credentials", ".htpasswd", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
    "*.pem", "*.key", "*.p12", "*.pfx", "*.keystore", "credentials.json",
)
SECRET_TEMPLATES = frozenset({".env.example", ".env.sample", ".env.template", ".env.dist", ".env.defaults"})
STARTUP_FILES = SHELL_STARTUP
SYSTEM_TREES = ("/dev", "/proc", "/sys")


class PathDenied(Exception):
    """A path outside the workspace or into a protected place; the message says why."""


def workspace_roots(context: ToolContext) -> list[Path]:
    """The resolved workspace roots: cwd, the context's extra roots and ``tools.extra_roots``."""
    cwd = Path(os.path.realpath(os.path.expanduser(str(context.cwd))))
    configured = context.settings.tools.extra_roots
    roots: list[Path] = []
    for raw in [cwd, *context.extra_roots, *configured]:
        expanded = os.path.expanduser(str(raw))
        full = expanded if os.path.isabs(expanded) else os.path.join(cwd, expanded)
        root = Path(os.path.realpath(full))
        if root not in roots:
            roots.append(root)
    return roots


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _is_secret(path: Path) -> bool:
    name = path.name.lower()
    if any(part.lower() in SECRET_DIRS for part in path.parts[:-1]) or name in SECRET_DIRS:
        return True
    if name in SECRET_TEMPLATES:
        return False
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SECRET_NAMES)


def _protected(path: Path, write: bool) -> str | None:
    """Why ``path`` is off limits whatever the rules say, or None."""
    text = str(path)
    if any(text == tree or text.startswith(tree + "/") for tree in SYSTEM_TREES):
        return f"{path} is a system device or kernel file"
    parts = [part.lower() for part in path.parts]
    if any(part in NO_ACCESS_DIRS for part in parts):
        return f"{path} is inside a key store (.ssh/.gnupg), which tools may not touch"
    if write and ".git" in parts:
        return f"{path} is inside .git; git internals may only be changed by git itself"
    if write and parts and parts[-1] in STARTUP_FILES:
        return f"{path} is a start-up file a shell or git runs code from; tools may not write it"
    if write:
        return settings_reason(path)
    return None


def _rules(context: ToolContext, kind: Behavior) -> list[Rule]:
    rules = settings_rules(context.settings.permissions, kind)
    if kind == "allow":
        rules += session_rules(context.session.session_allow)
    return rules


def _rule_for(context: ToolContext, kind: Behavior, path: Path, write: bool) -> Rule | None:
    """The first ``kind`` rule with a path specifier for reads (or writes) that matches ``path``."""
    family = EDIT_TOOLS if write else READ_TOOLS
    cwd = Path(os.path.realpath(str(context.cwd)))
    for rule in _rules(context, kind):
        if rule.specifier is not None and rule.tool in family and match_path(rule.specifier, path, cwd):
            return rule
    return None


class DeniedReach(str):
    """Why a recursive read is refused, not asked about: it would read a path a deny rule closes."""


def denied_read(path: Path, context: ToolContext) -> DeniedReach | None:
    """A recursive read's reason to be refused when a ``Read(...)`` deny rule covers ``path``, or None."""
    denied = _rule_for(context, "deny", path, False)
    if denied is None:
        return None
    return DeniedReach(f"a recursive read would include {path}, which the permission rule {denied} denies; "
                       "search the directories you need instead")


def closed_reason(path: Path, context: ToolContext, write: bool = False) -> str | None:
    """Why a path a shell command names is closed in every mode, whatever the allow rules say: a key
    store, a process's environment or memory, a disk, or a deny rule for reads (with ``write``, for
    edits too). Other system paths (``/proc/cpuinfo``, ``/dev/null``) are left to the validator."""
    parts = [part.lower() for part in path.parts]
    if any(part in NO_ACCESS_DIRS for part in parts):
        return f"{path} is inside a key store (.ssh/.gnupg), which tools may not touch"
    if len(parts) == 4 and parts[1] == "proc" and parts[3] in ("environ", "mem"):
        return f"{path} holds a process's environment or memory"
    try:
        if stat.S_ISBLK(os.stat(path).st_mode):
            return f"{path} is a disk device"
    except (OSError, ValueError):
        pass
    for kind_write in ((False, True) if write else (False,)):
        denied = _rule_for(context, "deny", path, kind_write)
        if denied:
            return f"{path} is denied by the permission rule {denied}"
    return None


def _special_file(path: Path, st: os.stat_result | None) -> str | None:
    if st is None:
        return None
    mode = st.st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return f"{path} is a device file"
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return f"{path} is a FIFO or socket, not a regular file"
    return None


def _hard_linked(path: Path, st: os.stat_result | None, context: ToolContext, write: bool) -> str | None:
    if st is None or not stat.S_ISREG(st.st_mode) or st.st_nlink <= 1:
        return None
    if _rule_for(context, "allow", path, write):
        return None
    family = "Edit" if write else "Read"
    spec = path_specifier(path, Path(os.path.realpath(str(context.cwd))))
    return (f"{path} has {st.st_nlink} hard links; its other names may lie outside the workspace and "
            f"cannot be checked, so it is refused; add the permission rule {family}({spec}) to allow it")


def _judge(path: Path, shown: str, context: ToolContext, roots: list[Path], write: bool) -> None:
    if not _inside(path, roots):
        where = ", ".join(str(root) for root in roots)
        raise PathDenied(f"{shown} resolves to {path}, outside the workspace ({where}); "
                         "add the directory to tools.extra_roots to allow it")
    reason = _protected(path, write)
    if reason:
        raise PathDenied(reason)
    denied = _rule_for(context, "deny", path, write)
    if denied:
        raise PathDenied(f"{path} is denied by the permission rule {denied}")
    if _is_secret(path) and not _rule_for(context, "allow", path, write):
        family = "Edit" if write else "Read"
        spec = path_specifier(path, Path(os.path.realpath(str(context.cwd))))
        raise PathDenied(f"{path} looks like a secret; add the permission rule "
                         f"{family}({spec}) to allow it")


def _absolute(path: object, roots: list[Path]) -> tuple[str, str]:
    """The model's path as an absolute string (and as shown), or `PathDenied`."""
    if not isinstance(path, str):
        raise PathDenied(f"path must be a string, got {type(path).__name__}")
    if "\x00" in path:
        raise PathDenied("path contains a NUL byte")
    if not path.strip():
        raise PathDenied("path is empty")
    expanded = os.path.expanduser(path) if path.startswith("~") else path
    if expanded.startswith("~"):
        raise PathDenied(f"cannot expand {path.split('/')[0]}: no such user")
    return (expanded if os.path.isabs(expanded) else os.path.join(roots[0], expanded)), path


def _locate(path: object, context: ToolContext, write: bool) -> Located:
    roots = workspace_roots(context)
    joined, shown = _absolute(path, roots)
    try:
        found = locate(joined, roots)
    except Escape:
        where = ", ".join(str(root) for root in roots)
        real = os.path.realpath(joined) if joined.count("/") < 256 else joined
        raise PathDenied(f"{shown[:300]} resolves to {real[:300]}, outside the workspace ({where}); "
                         "add the directory to tools.extra_roots to allow it") from None
    except WalkError as exc:
        raise PathDenied(str(exc)) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PathDenied(f"{shown} is a symlink loop") from None
        if exc.errno == errno.ENAMETOOLONG:
            raise PathDenied(f"{shown[:80]}...: the path or one of its names is too long") from None
        raise PathDenied(f"{shown}: {exc.strerror or exc}") from None
    try:
        for link in found.links:
            _judge(link, shown, context, roots, write)
        _judge(found.path, shown, context, roots, write)
        special = _special_file(found.path, found.st)
        if special:
            raise PathDenied(special)
        linked = _hard_linked(found.path, found.st, context, write)
        if linked:
            raise PathDenied(linked)
    except BaseException:
        found.close()
        raise
    return found


@contextmanager
def located(path: str, context: ToolContext, *, write: bool = False) -> Iterator[Located]:
    """Resolve and judge ``path``, then hold it open for the caller's I/O; `PathDenied` otherwise.

    The `Located` keeps the directory that holds the final name open until the block
    ends, so the caller opens, creates or lists through that fd (`beneath.open_file`,
    `beneath.open_dir`) and never by name.
    """
    try:
        found = _locate(path, context, write)
    except PathDenied:
        raise
    except Exception as exc:  # the guard's edge: any failure in here is a refusal, never a crash
        raise PathDenied(f"the path check failed ({type(exc).__name__}: {exc}); refused") from None
    try:
        yield found
    finally:
        found.close()


def check_path(path: str, context: ToolContext, *, write: bool = False) -> Path:
    """Resolve ``path`` against the workspace and return it, or raise `PathDenied`.

    Symlinks are followed for the target and for the parent of a new file; the link
    entry and its target must both pass, so neither end of a link can be protected.
    """
    with located(path, context, write=write) as found:
        return found.path


MAX_SCAN_ENTRIES = 20_000
SCAN_SKIP = frozenset({".git", ".hg", ".svn"})


def _gitignore(root: Path) -> Any:
    try:
        lines = (root / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def secret_under(root: Path, context: ToolContext, *, hidden: bool = True, gitignore: bool = False) -> str | None:
    """Why a recursive read of ``root`` could reveal a secret, or None when it cannot.

    For ``grep -r`` and friends: walks ``root`` (not following symlinks, as they do)
    looking for key stores and secret files no allow rule unlocks. ``hidden=False``
    skips dot entries and ``gitignore=True`` honours the top-level .gitignore, as
    ripgrep does by default. A tree too large to walk fails closed.
    """
    if not root.is_dir():
        return None
    ignore = _gitignore(root) if gitignore else None
    pending = [root]
    seen = 0
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > MAX_SCAN_ENTRIES:
                return f"{root} holds more than {MAX_SCAN_ENTRIES} entries to check for secrets"
            name = entry.name
            if name in SCAN_SKIP or (not hidden and name.startswith(".")):
                continue
            path = Path(entry.path)
            is_dir = entry.is_dir(follow_symlinks=False)
            if ignore is not None:
                rel = path.relative_to(root).as_posix() + ("/" if is_dir else "")
                if ignore.match_file(rel):
                    continue
            refused = denied_read(path, context)
            if refused:
                return refused
            if name.lower() in NO_ACCESS_DIRS:
                return f"{path} is a key store (.ssh/.gnupg) a recursive read would enter"
            if is_dir:
                pending.append(path)
            elif _is_secret(path) and not _rule_for(context, "allow", path, False):
                return f"a recursive read would include {path}, which looks like a secret"
    return None
