"""Walking the workspace the way ripgrep does: ignore files honoured, symlinks not followed.

The walk goes through directory fds: each directory is opened with ``O_NOFOLLOW``
relative to the fd of its parent, starting from the fd the guard checked, and
`walk_entries` hands out each file with the fd of the directory that holds it, so a
caller opens the file relative to that fd and a directory swapped for a symlink
mid-walk is never entered.

Glob and the pure-Python Grep use this walker, so the fallback finds the same files
as ``rg --hidden --no-require-git``: hidden files are included, ``.git`` is skipped,
``.gitignore``, ``.ignore`` and ``.rgignore`` apply in their directory and below
(also from the search root's parents), inner files override outer ones, and an
ignored directory is never entered.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # both are imported on first use: chat -p's first request does not wait for them
    import pathspec

IGNORE_FILES = (".gitignore", ".ignore", ".rgignore")
SKIP_DIRS = {".git"}


@dataclass
class _Rules:
    base: Path
    spec: "pathspec.GitIgnoreSpec"


LIST_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
MAX_IGNORE_BYTES = 1 << 20


def _read_small(name: str, dir_fd: int | None, directory: Path) -> str:
    """An ignore file's text, opened without following a symlink (relative to ``dir_fd`` when given)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(name, flags, dir_fd=dir_fd) if dir_fd is not None else os.open(directory / name, flags)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return ""
        return handle.read(MAX_IGNORE_BYTES).decode("utf-8", "replace")


def _load_rules(directory: Path, dir_fd: int | None = None) -> _Rules | None:
    lines: list[str] = []
    for name in IGNORE_FILES:
        try:
            lines += _read_small(name, dir_fd, directory).splitlines()
        except OSError:
            continue
    if not any(line.strip() and not line.startswith("#") for line in lines):
        return None
    import pathspec

    return _Rules(directory, pathspec.GitIgnoreSpec.from_lines(lines))


def _ignored(path: Path, is_dir: bool, stack: list[_Rules]) -> bool:
    for rules in reversed(stack):
        rel = path.relative_to(rules.base).as_posix()
        result = rules.spec.check_file(rel + "/" if is_dir else rel)
        if result.include is not None:
            return bool(result.include)
    return False


Override = Callable[[str, bool], "bool | None"]


def walk_entries(root: Path, root_fd: int, *, respect_ignore: bool = True,
                 override: Override | None = None) -> Iterator[tuple[Path, int, str]]:
    """Every regular file under ``root`` (open as ``root_fd``) in path order, as (path, dir fd, name).

    The dir fd is open only until the next item is asked for. Ignored files and
    symlinks are skipped. ``override(relative_path, is_dir)`` mirrors ripgrep's
    ``--glob``: True includes an entry even if an ignore file excludes it, False
    excludes it, None leaves it to the ignore files.
    """
    stack: list[_Rules] = []
    if respect_ignore:
        for parent in reversed(root.parents):
            rules = _load_rules(parent)
            if rules:
                stack.append(rules)

    def visit(directory: Path, dir_fd: int) -> Iterator[tuple[Path, int, str]]:
        pushed = False
        if respect_ignore:
            rules = _load_rules(directory, dir_fd)
            if rules:
                stack.append(rules)
                pushed = True
        try:
            with os.scandir(dir_fd) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError:
            entries = []
        for entry in entries:
            if entry.is_symlink():
                continue
            path = directory / entry.name
            if entry.is_dir(follow_symlinks=False):
                if entry.name in SKIP_DIRS:
                    continue
                decided = override(path.relative_to(root).as_posix(), True) if override else None
                if decided is False or (decided is None and respect_ignore and _ignored(path, True, stack)):
                    continue
                try:
                    child = os.open(entry.name, LIST_FLAGS, dir_fd=dir_fd)
                except OSError:
                    continue  # replaced by a symlink or removed since it was listed
                try:
                    yield from visit(path, child)
                finally:
                    os.close(child)
            elif entry.is_file(follow_symlinks=False):
                decided = override(path.relative_to(root).as_posix(), False) if override else None
                if decided is False or (decided is None and respect_ignore and _ignored(path, False, stack)):
                    continue
                yield path, dir_fd, entry.name
        if pushed:
            stack.pop()

    yield from visit(root, root_fd)


def glob_match(rel_path: str, pattern: str, *, match_base: bool = False) -> bool:
    """Whether a ``/``-separated relative path matches a glob (``**``, ``{a,b}``, dotfiles)."""
    from wcmatch import glob as wcglob

    flags = wcglob.GLOBSTAR | wcglob.BRACE | wcglob.DOTGLOB | (wcglob.MATCHBASE if match_base else 0)
    return wcglob.globmatch(rel_path, pattern, flags=flags)
