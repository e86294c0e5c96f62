"""A shell command's parts as the permission rules see them: as they run, and what their words name.

A deny rule must hold for every spelling of what it names. `run_forms` gives the forms a
`Bash(...)` deny or ask rule is matched against besides the text: quotes removed, the
program by its name, and without the options before its subcommand. `closed_word` finds a
word that names a path closed in every mode (a key store, a process's environment, a disk,
a path a ``Read(...)`` or ``Edit(...)`` deny rule covers): the validator only asks about
such reads, which an allow rule or bypassPermissions would then let run.
"""

from __future__ import annotations

import os
from pathlib import Path

from claude_proxy.tools.base import ToolContext
from claude_proxy.tools.guard.commands import PartVerdict
from claude_proxy.tools.guard.paths import closed_reason

# Options that take the next word as their value, before a subcommand (git -C dir, npm --prefix dir).
_VALUE_OPTIONS = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--prefix", "-w", "--workspace",
                            "--registry", "-f", "--file", "--userconfig", "--cache", "--cwd", "--dir"})


def run_forms(words: tuple[str | None, ...]) -> list[str]:
    """A command as it runs, for matching deny and ask rules: quotes gone, the program by its name
    (busybox's applet too), and again without the options before its first operand (with and
    without the word each may take). Words from the first one known only at run time on are left
    out: a prefix rule still matches what comes before (``xargs /bin/rm`` runs ``rm ...``)."""
    values: list[str] = []
    for word in words:
        if word is None:
            break
        values.append(word)
    if not values:
        return []
    program, rest = os.path.basename(values[0]), values[1:]
    commands = [[program, *rest]] + ([rest] if program == "busybox" and rest else [])
    forms: list[str] = []
    for argv in commands:
        forms.append(" ".join(argv))
        for take_values in (False, True):
            i = 1
            while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
                i += 2 if take_values and argv[i] in _VALUE_OPTIONS else 1
            forms.append(" ".join([argv[0], *argv[i:]]))
    return list(dict.fromkeys(forms))


def closed_word(parts: list[PartVerdict], context: ToolContext) -> str | None:
    """A word of a part that is not proven safe naming a path closed in every mode, as a reason; or None.

    Words are read as paths relative to the directory the part runs in (after a ``cd``), and so
    is what follows a ``:`` (``git show HEAD:secrets/key``); both the path as written and where
    its links lead count.
    """
    cwd = Path(os.path.realpath(str(context.cwd)))
    for part in parts:
        if part.behavior == "allow":
            continue
        base = part.where or cwd
        for word in part.words[1:] if part.kind == "command" else part.words:
            if not word or word.startswith("-") and "=" not in word:
                continue
            for text in dict.fromkeys((word, word.split(":", 1)[-1], word.split("=", 1)[-1])):
                if not text:
                    continue
                reason = _closed(base / os.path.expanduser(text), context)
                if reason:
                    return f"{part.command[:80]}: {reason}"
    return None


def _closed(path: Path, context: ToolContext) -> str | None:
    for candidate in dict.fromkeys((Path(os.path.normpath(path)), Path(os.path.realpath(path)))):
        reason = closed_reason(candidate, context, write=True)
        if reason:
            return reason
    return None
