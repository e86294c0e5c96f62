"""What a read that follows symlinks can reach: every link under a directory must stay safe.

``grep -R``, ``rg -L``, ``find -L``, ``tree -l``, ``du -L`` and ``diff -r`` follow
symlinks as they walk. Such a read is safe only when every symlink it can meet
passes the path validator (inside the workspace, not a secret, not a key store), so
``docs/etc -> /etc`` or ``notes.txt -> ../.env`` makes it ask. The walk does not
follow a link before checking where it points, visits each directory once, and a tree too large to
walk fails closed. `matching_secret_problem` does the same for reads limited to files
matching globs (``grep --include``, ``rg -g``), whose globs can reach hidden and
ignored files.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from claude_proxy.tools.base import ToolContext
from claude_proxy.tools.guard.paths import PathDenied, check_path, denied_read

MAX_ENTRIES = 20_000
SKIP = frozenset({".git", ".hg", ".svn"})


def link_problem(root: Path, context: ToolContext, limit: int = MAX_ENTRIES) -> str | None:
    """Why following the symlinks under ``root`` could leave the workspace or reach a secret, or None."""
    if root.is_symlink():
        try:
            check_path(str(root), context)
        except PathDenied as exc:
            return f"follows the symlink {root}: {exc}"
    if not root.is_dir():
        return None
    pending = [root]
    visited = {os.path.realpath(root)}
    seen = 0
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > limit:
                return f"{root} holds more than {limit} entries to check for symlinks"
            if entry.name in SKIP:
                continue
            if entry.is_symlink():
                try:
                    check_path(entry.path, context)
                except PathDenied as exc:
                    return f"follows the symlink {entry.path}: {exc}"
                target = os.path.realpath(entry.path)
                if os.path.isdir(target) and target not in visited:
                    visited.add(target)
                    pending.append(Path(target))
            elif entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
    return None


def _matches(rel: str, name: str, globs: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, g) or fnmatch.fnmatchcase(rel, g.lstrip("/")) for g in globs)


def matching_secret_problem(root: Path, globs: list[str], context: ToolContext, limit: int = MAX_ENTRIES) -> str | None:
    """Why a recursive read limited to files matching ``globs`` could include a secret, or None.

    For ``grep -r --include=GLOB`` and ``rg -g GLOB``: ripgrep's globs override its
    ignore and hidden-file rules, so every file under ``root`` that matches, hidden or
    ignored, is checked with the path validator.
    """
    if not root.is_dir():
        return None
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
            if seen > limit:
                return f"{root} holds more than {limit} entries to check for secrets"
            if entry.name in SKIP:
                continue
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
                continue
            rel = os.path.relpath(entry.path, root)
            if _matches(rel, entry.name, globs):
                refused = denied_read(Path(entry.path), context)
                if refused:
                    return refused
                try:
                    check_path(entry.path, context)
                except PathDenied as exc:
                    return f"a recursive read would include {entry.path}: {exc}"
    return None
