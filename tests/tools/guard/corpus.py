"""The command corpora in tests/fixtures/guard: loading them and the workspace they are judged in."""

from __future__ import annotations

import os
import re
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "guard"
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[nrt\\])")


def _unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "ux":
            return chr(int(code[1:], 16))
        return {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}[code]
    return _ESCAPE.sub(one, text)


def _command(line: str) -> str:
    return _unescape(line[4:]) if line.startswith("esc:") else line


def hostile() -> list[tuple[str, str]]:
    """(class, command) pairs: each command follows its one-line ``# class`` comment."""
    lines = (CORPUS_DIR / "hostile_commands.txt").read_text(encoding="utf-8").split("\n")
    pairs = []
    for index, line in enumerate(lines[:-1]):
        following = lines[index + 1]
        if line.startswith("# ") and following and not following.startswith("#"):
            pairs.append((line[2:], _command(following)))
    return pairs


def everyday() -> list[str]:
    lines = (CORPUS_DIR / "everyday_commands.txt").read_text(encoding="utf-8").split("\n")
    return [_command(line) for line in lines if line and not line.startswith("#")]


def furnish(workspace: Path) -> Path:
    """Add what the hostile corpus aims at: an option-named file and a symlink out of the workspace."""
    (workspace / "src" / "--pre=sh").write_text("")
    (workspace / "src" / "hook.sh").write_text("#!/bin/sh\nid\n")
    os.symlink("/etc", workspace / "docs" / "etc-link")
    return workspace
