"""The judge's view of the workspace: where relative paths point and which paths a command may use.

`WorkspaceView` implements `judgement.Env` for the command validator: it follows
``cd`` (and forgets the directory when a cd may fail or sits in a scope of its own),
checks reads and writes with the path validator, expands globs to check every
match, and judges redirection targets. Under ``/dev`` only ``null``, ``stdout``,
``stderr`` and ``/dev/fd/0-2`` are fixed targets; a write to a file that runs code
later or holds settings is *guarded*: it asks in every mode, acceptEdits included.
"""

from __future__ import annotations

import glob
import os
import shutil
from itertools import islice
from pathlib import Path

from claude_proxy.settings import LOCAL_FILE
from claude_proxy.tools.base import ToolContext
from claude_proxy.tools.guard.judgement import Judgement, ask, deny
from claude_proxy.tools.guard.paths import STARTUP_FILES, PathDenied, check_path, secret_under, workspace_roots
from claude_proxy.tools.guard.reach import link_problem, matching_secret_problem
from claude_proxy.tools.guard.words import PROCESS_INPUT, Word

MAX_GLOB_MATCHES = 200

# Programs with options that write files or run programs: an option-like glob always asks.
RISKY = frozenset({"rg", "sort", "tree", "xxd", "uniq", "git", "find", "sed"})
# Programs whose own checkers judge run-time words (the variables they would print).
ECHOES = frozenset({"echo", "printf", "printenv", "test", "["})
SAFE_DEVICES = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/fd/0", "/dev/fd/1", "/dev/fd/2"})
# Redirection targets that ask in every mode: git and editors run code from them later,
# and the project settings file would let one write turn the guard off.
GUARDED_DIRS = frozenset({".git", ".vscode", ".idea", ".devcontainer", ".claude-proxy"})
GUARDED_NAMES = frozenset({LOCAL_FILE, "claude-proxy.yml", ".mcp.json", ".gitmodules", ".gitattributes", ".envrc",
                           *STARTUP_FILES})


def _guarded(reason: str) -> Judgement:
    """A redirection that asks in every mode, acceptEdits included."""
    return Judgement("ask", reason, guarded=True)


class WorkspaceView:
    """The workspace as the judge sees it, with the directory ``cd`` moved to."""

    def __init__(self, context: ToolContext) -> None:
        self.context = context
        self.roots = workspace_roots(context)
        self.cwd: Path | None = self.roots[0]
        self.home = Path(os.path.realpath(os.path.expanduser("~")))
        self.scoped = False

    def _absolute(self, value: str) -> Path | None:
        if os.path.isabs(value):
            return Path(value)
        return self.cwd / value if self.cwd is not None else None

    def read_problem(self, word: Word) -> str | None:
        if word.value is None:
            return f"{word.text} depends on a variable or substitution"
        if word.brace:
            return f"{word.text} uses brace expansion"
        if word.value in ("-", PROCESS_INPUT) or word.value in SAFE_DEVICES:
            return None
        if word.glob:
            return self._glob_problem(word.value)
        target = self._absolute(word.value)
        if target is None:
            return f"{word.text} is relative to a directory not known after cd"
        try:
            check_path(str(target), self.context)
        except PathDenied as exc:
            return str(exc)
        return None

    def secret_problem(self, word: Word, hidden: bool, gitignore: bool) -> str | None:
        target = self._absolute(word.value or ".")
        if target is None:
            return "the directory is not known after cd"
        return secret_under(Path(os.path.realpath(target)), self.context, hidden=hidden, gitignore=gitignore)

    def words_problem(self, name: str, args: list[Word]) -> str | None:
        """Words whose final form is not fixed: run-time values, brace expansion, option-like globs.

        A glob that starts with a pattern character can expand to a file named like an
        option (``--pre=sh``); it asks when a match looks like one, or always for a
        program that has options that write files or run programs.
        """
        for word in args:
            if word.value == "--":
                return None
            if word.value is None and name not in ECHOES:
                return f"{name}: {word.text} is only known at run time"
            if word.brace:
                return f"{name}: {word.text} uses brace expansion"
            if word.glob and word.value and word.value[0] in "*?[":
                if name in RISKY:
                    return f"{name}: {word.text} could expand to a file named like an option"
                base = self._absolute(".")
                if base is None:
                    return f"{name}: {word.text} is expanded in a directory not known after cd"
                matches = islice(glob.iglob(word.value, root_dir=base), MAX_GLOB_MATCHES + 1)
                if any(os.path.basename(m).startswith("-") for m in matches):
                    return f"{name}: {word.text} expands to a file named like an option"
        return None

    def program_problem(self, name: str) -> str | None:
        """A program PATH finds inside the workspace is the model's to write, not the system's."""
        found = shutil.which(name)
        if found is None:
            return None
        real = Path(os.path.realpath(found))
        if any(real == root or root in real.parents for root in self.roots):
            return f"{name} is found on PATH at {real}, inside the workspace"
        return None

    def matching_secret_problem(self, word: Word, globs: list[str]) -> str | None:
        target = self._absolute(word.value or ".")
        if target is None:
            return "the directory is not known after cd"
        return matching_secret_problem(Path(os.path.realpath(target)), globs, self.context)

    def link_problem(self, word: Word) -> str | None:
        target = self._absolute(word.value or ".")
        if target is None:
            return "the directory is not known after cd"
        return link_problem(target, self.context)

    def _glob_problem(self, pattern: str) -> str | None:
        base = self._absolute(pattern)
        if base is None:
            return f"{pattern} is relative to a directory not known after cd"
        prefix = str(base).split("*")[0].split("?")[0].split("[")[0]
        try:
            check_path(os.path.dirname(prefix) or "/", self.context)
            matches = list(islice(glob.iglob(str(base)), MAX_GLOB_MATCHES + 1))
        except PathDenied as exc:
            return str(exc)
        except OSError as exc:
            return f"{pattern} cannot be expanded here ({exc.strerror})"
        if len(matches) > MAX_GLOB_MATCHES:
            return f"{pattern} matches more than {MAX_GLOB_MATCHES} files to check"
        for match in matches:
            try:
                check_path(match, self.context)
            except PathDenied as exc:
                return str(exc)
        return None

    def write_problem(self, word: Word) -> Judgement | None:
        if word.value is None:
            return _guarded(f"writes to {word.text}, which depends on a variable or substitution")
        value = word.value
        if value in SAFE_DEVICES:
            return None
        if value.startswith(("/dev/fd/", "/dev/std", "/dev/tty")):
            return _guarded(f"writes to {value}, which is not /dev/null, /dev/stdout, /dev/stderr or /dev/fd/0-2")
        if value.startswith("/dev/"):
            return deny(f"writes to the device {value}")
        if word.glob or word.brace:
            return _guarded(f"writes to {word.text}, a pattern")
        target = self._absolute(value)
        if target is None:
            return _guarded(f"writes to {value} relative to a directory not known after cd")
        try:
            real = check_path(str(target), self.context, write=True)
        except PathDenied as exc:
            return deny(f"write refused: {exc}")
        if real.name in GUARDED_NAMES or GUARDED_DIRS & set(real.parts):
            return _guarded(f"writes to {value}, which runs code later or holds settings")
        return ask(f"writes to the file {value}")

    def removal_problem(self, word: Word) -> Judgement | None:
        if word.value is None:
            if word.leading_var == "HOME":
                return deny(f"{word.text} is the home directory or inside it")
            return ask(f"{word.text} depends on a variable or substitution")
        value = word.value
        if word.brace:
            return ask(f"{word.text} uses brace expansion")
        if word.glob:
            prefix = value.split("*")[0].split("?")[0].split("[")[0]
            directory = self._absolute(os.path.dirname(prefix) or ".")
            if directory is None:
                return ask(f"{value} is relative to a directory not known after cd")
            real = Path(os.path.realpath(directory))
            if any(real == root or root in real.parents for root in self.roots):
                return None
            return deny(f"{word.text} matches entries of {real}, outside the workspace")
        target = self._absolute(value)
        if target is None:
            return ask(f"{value} is relative to a directory not known after cd")
        stripped = str(target).rstrip("/") or "/"
        parent, name = os.path.split(stripped)
        follow = value.endswith("/") or name in ("", ".", "..")
        real = Path(os.path.realpath(stripped)) if follow else Path(os.path.realpath(parent)) / name
        if real == Path("/"):
            return deny(f"{word.text} is the root directory")
        if real == self.home:
            return deny(f"{word.text} is the home directory")
        if any(real == root or real in root.parents for root in self.roots):
            return deny(f"{word.text} is {real}, which holds the whole workspace")
        if not any(root in real.parents for root in self.roots):
            return deny(f"{word.text} resolves to {real}, outside the workspace")
        return None

    def change_dir(self, word: Word | None) -> str | None:
        """Follow a ``cd``; the directory becomes unknown when the cd may fail or is scoped.

        A cd in a subshell, pipeline, substitution, loop or background job does not move
        the commands after it, and a cd to a directory that does not exist fails, so in
        both cases the judge stops assuming where later relative paths point.
        """
        problem = self._change_dir(word)
        if self.scoped:
            self.cwd = None
        return problem

    def _change_dir(self, word: Word | None) -> str | None:
        if word is None:
            self.cwd = self.home
        elif word.value is None or word.value == "-" or word.glob or word.brace:
            self.cwd = None
            return f"{word.text} is not a fixed directory"
        elif os.environ.get("CDPATH") and not word.value.startswith(("/", "./", "../")) and word.value != "..":
            self.cwd = None
            return f"cd {word.text} is looked up through CDPATH, so where it lands is not known here"
        else:
            target = self._absolute(word.value)
            self.cwd = Path(os.path.realpath(target)) if target is not None else None
            if self.cwd is not None and not self.cwd.is_dir():
                self.cwd = None
                return f"{word.text} is not an existing directory, so the cd may fail"
        if self.cwd is None or not any(self.cwd == r or r in self.cwd.parents for r in self.roots):
            return f"leaves the workspace (to {self.cwd or 'an unknown directory'})"
        return None
