"""Project memory: CLAUDE.md, CLAUDE.local.md and AGENTS.md, as Claude Code reads them, in the system prompt.

Files are read from the user level first, then from the file system root down to the
working directory, so the nearest file comes last and wins where instructions differ:

- user: ``~/.claude/CLAUDE.md`` (shared with Claude Code), then
  ``~/.config/claude-proxy/CLAUDE.md`` (this tool's own, next to its settings);
- in each directory from the root to the working directory: ``CLAUDE.md``,
  ``.claude/CLAUDE.md``, ``AGENTS.md`` (the name Codex CLI and others read), then
  ``CLAUDE.local.md`` (personal, usually git-ignored).

Each file is cut at ``MAX_FILE_CHARS``. ``# text`` in the REPL appends a line to the
project file, ``./CLAUDE.md`` in the working directory.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from claude_proxy.settings import user_config_path

log = logging.getLogger(__name__)

MAX_FILE_CHARS = 40_000
PROJECT_NAMES = ("CLAUDE.md", ".claude/CLAUDE.md", "AGENTS.md", "CLAUDE.local.md")
PROJECT_FILE = "CLAUDE.md"

HEADER = (
    "# Memory\n\n"
    "Instructions from the user's and the project's memory files follow, the nearest last. "
    "They take precedence over the general guidance above; follow them."
)


@dataclass
class MemoryFile:
    """One loaded memory file: where it is, whose it is, what it says."""

    path: Path
    scope: str  # "user", "project" or "local"
    text: str
    truncated: bool = False


def user_memory_paths(home: Path | None = None) -> list[Path]:
    """The user-level files, Claude Code's first."""
    home = home or Path.home()
    return [home / ".claude" / "CLAUDE.md", user_config_path().parent / "CLAUDE.md"]


def memory_paths(cwd: Path, home: Path | None = None) -> list[tuple[Path, str]]:
    """Every place a memory file may be, in load order, with its scope."""
    found: list[tuple[Path, str]] = [(p, "user") for p in user_memory_paths(home)]
    cwd = Path(os.path.realpath(cwd))
    for directory in [*reversed(cwd.parents), cwd]:
        for name in PROJECT_NAMES:
            found.append((directory / name, "local" if name == "CLAUDE.local.md" else "project"))
    return found


def load_memory(cwd: Path, home: Path | None = None) -> list[MemoryFile]:
    """The memory files that exist and can be read (an unreadable one is skipped and logged)."""
    loaded: list[MemoryFile] = []
    seen: set[str] = set()
    for path, scope in memory_paths(cwd, home):
        try:
            real = os.path.realpath(path)
            if real in seen or not os.path.isfile(real):
                continue
            seen.add(real)
            text = Path(real).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            log.debug("cannot read memory file %s: %s", path, exc)
            continue
        if not text.strip():
            continue
        truncated = len(text) > MAX_FILE_CHARS
        loaded.append(MemoryFile(path, scope, text[:MAX_FILE_CHARS], truncated))
    return loaded


def memory_prompt(files: list[MemoryFile]) -> str:
    """The memory section of the system prompt ("" when there is none)."""
    if not files:
        return ""
    parts = [HEADER]
    for memory in files:
        what = {"user": "the user's own instructions, for every project",
                "project": "project instructions, checked into the codebase",
                "local": "the user's private project instructions"}[memory.scope]
        note = "\n(cut here: the file is longer)" if memory.truncated else ""
        parts.append(f"Contents of {memory.path} ({what}):\n\n{memory.text.strip()}{note}")
    return "\n\n".join(parts)


def add_to_project_memory(cwd: Path, line: str) -> Path:
    """Append ``- line`` to ``./CLAUDE.md`` (created if missing); return the file's path."""
    path = cwd / PROJECT_FILE
    existing = path.read_text(encoding="utf-8") if path.is_file() else ""
    prefix = "" if not existing or existing.endswith("\n") else "\n"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"{prefix}- {line.strip()}\n")
    return path
