"""The path validator: every file a tool touches must resolve inside the workspace.

The workspace is the working directory plus ``context.extra_roots`` and
``settings.tools.extra_roots``. A path is resolved the way the kernel will resolve it
(``~`` expanded, relative to the working directory, every symlink followed, the
parent of a not-yet-existing file included), and both the directory entry itself
(the link, if it is one) and what it finally points at must be allowed, so a
symlink cannot smuggle a tool out of the workspace or into a protected place.

Protected places, refused even inside the workspace:

- NUL bytes, device files, FIFOs and sockets, anything under /dev, /proc and /sys;
- anything under ``.ssh`` or ``.gnupg`` (read or write);
- writes into ``.git`` internals (``.git/config``, hooks, ...; reading is fine) and
  to files a shell or git runs code from (``.bashrc``, ``.profile``, ``.zshrc``,
  ``.gitconfig``, ...);
- secrets (``.env*``, ``.netrc``, ``.npmrc``, ``.pypirc``, private keys, ``.aws``,
  ...) unless an allow rule such as ``Read(./.env)`` names them;
- whatever a ``Read(...)`` (for reads) or ``Edit(...)`` (for writes) deny rule
  matches, so deny rules hold for every tool, Bash included.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
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

NO_ACCESS_DIRS = frozenset({".ssh", ".gnupg"})
SECRET_DIRS = frozenset({".aws", ".kube", ".azure"})
SECRET_NAMES = (
    ".env", ".env.*", ".envrc", ".netrc", "_netrc", ".pgpass", ".npmrc", ".pypirc",
    ".git-credentials", ".htpasswd", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
    "*.pem", "*.key", "*.p12", "*.pfx", "*.keystore", "credentials.json",
)
SECRET_TEMPLATES = frozenset({".env.example", ".env.sample", ".env.template", ".env.dist", ".env.defaults"})
STARTUP_FILES = frozenset({
    ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc", ".zshenv",
    ".zprofile", ".zlogin", ".zlogout", ".cshrc", ".tcshrc", ".login", ".logout", ".kshrc",
    ".mkshrc", ".inputrc", ".gitconfig", ".git-credentials", "config.fish",
})
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


def _special_file(path: Path) -> str | None:
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{path} is a symlink loop"
        return None
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return f"{path} is a device file"
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return f"{path} is a FIFO or socket, not a regular file"
    return None


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


def check_path(path: str, context: ToolContext, *, write: bool = False) -> Path:
    """Resolve ``path`` against the workspace and return it, or raise `PathDenied`.

    Symlinks are followed for the target and for the parent of a new file; the link
    entry and its target must both pass, so neither end of a link can be protected.
    """
    if not isinstance(path, str):
        raise PathDenied(f"path must be a string, got {type(path).__name__}")
    if "\x00" in path:
        raise PathDenied("path contains a NUL byte")
    if not path.strip():
        raise PathDenied("path is empty")
    roots = workspace_roots(context)
    expanded = os.path.expanduser(path) if path.startswith("~") else path
    if expanded.startswith("~"):
        raise PathDenied(f"cannot expand {path.split('/')[0]}: no such user")
    joined = expanded if os.path.isabs(expanded) else os.path.join(roots[0], expanded)
    target = Path(os.path.realpath(joined))
    name = os.path.basename(joined.rstrip("/")) if joined.rstrip("/") else ""
    if name in ("", ".", ".."):
        entry = target
    else:
        entry = Path(os.path.realpath(os.path.dirname(joined.rstrip("/")))) / name
    special = _special_file(Path(joined))
    if special:
        raise PathDenied(special)
    if entry != target:
        _judge(entry, path, context, roots, write)
    _judge(target, path, context, roots, write)
    return target


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
            if name.lower() in NO_ACCESS_DIRS:
                return f"{path} is a key store (.ssh/.gnupg) a recursive read would enter"
            if is_dir:
                pending.append(path)
            elif _is_secret(path) and not _rule_for(context, "allow", path, False):
                return f"a recursive read would include {path}, which looks like a secret"
    return None
