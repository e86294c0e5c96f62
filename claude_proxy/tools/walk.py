"""Walking the workspace the way ripgrep does: ignore files honoured, symlinks not followed.

Glob and the pure-Python Grep use this walker, so the fallback finds the same files
as ``rg --hidden --no-require-git``: hidden files are included, ``.git`` is skipped,
``.gitignore``, ``.ignore`` and ``.rgignore`` apply in their directory and below
(also from the search root's parents), inner files override outer ones, and an
ignored directory is never entered.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec
from wcmatch import glob as wcglob

IGNORE_FILES = (".gitignore", ".ignore", ".rgignore")
SKIP_DIRS = {".git"}
GLOB_FLAGS = wcglob.GLOBSTAR | wcglob.BRACE | wcglob.DOTGLOB


@dataclass
class _Rules:
    base: Path
    spec: pathspec.GitIgnoreSpec


def _load_rules(directory: Path) -> _Rules | None:
    lines: list[str] = []
    for name in IGNORE_FILES:
        try:
            lines += (directory / name).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
    if not any(line.strip() and not line.startswith("#") for line in lines):
        return None
    return _Rules(directory, pathspec.GitIgnoreSpec.from_lines(lines))


def _ignored(path: Path, is_dir: bool, stack: list[_Rules]) -> bool:
    for rules in reversed(stack):
        rel = path.relative_to(rules.base).as_posix()
        result = rules.spec.check_file(rel + "/" if is_dir else rel)
        if result.include is not None:
            return bool(result.include)
    return False


Override = Callable[[str, bool], "bool | None"]


def walk_files(root: Path, *, respect_ignore: bool = True, override: Override | None = None) -> Iterator[Path]:
    """Every regular file under ``root`` in path order, skipping ignored ones and symlinks.

    ``override(relative_path, is_dir)`` mirrors ripgrep's ``--glob``: True includes an
    entry even if an ignore file excludes it, False excludes it, None leaves it to the
    ignore files.
    """
    stack: list[_Rules] = []
    if respect_ignore:
        for parent in reversed(root.parents):
            rules = _load_rules(parent)
            if rules:
                stack.append(rules)

    def visit(directory: Path) -> Iterator[Path]:
        pushed = False
        if respect_ignore:
            rules = _load_rules(directory)
            if rules:
                stack.append(rules)
                pushed = True
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            entries = []
        for entry in entries:
            if entry.is_symlink():
                continue
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                if entry.name in SKIP_DIRS:
                    continue
                decided = override(path.relative_to(root).as_posix(), True) if override else None
                if decided is False or (decided is None and respect_ignore and _ignored(path, True, stack)):
                    continue
                yield from visit(path)
            elif entry.is_file(follow_symlinks=False):
                decided = override(path.relative_to(root).as_posix(), False) if override else None
                if decided is False or (decided is None and respect_ignore and _ignored(path, False, stack)):
                    continue
                yield path
        if pushed:
            stack.pop()

    yield from visit(root)


def glob_match(rel_path: str, pattern: str, *, match_base: bool = False) -> bool:
    """Whether a ``/``-separated relative path matches a glob (``**``, ``{a,b}``, dotfiles)."""
    flags = GLOB_FLAGS | (wcglob.MATCHBASE if match_base else 0)
    return wcglob.globmatch(rel_path, pattern, flags=flags)
