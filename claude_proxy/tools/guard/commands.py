"""The command validator: is a shell command proven read-only, or must someone decide?

`judge_command` parses the command with tree-sitter-bash (see `shell` for why),
splits it into every simple command it contains (through ``&&``, ``||``, ``;``,
``|``, newlines, subshells, command and process substitutions, here-documents,
wrappers like ``timeout``/``env``, ``sh -c``/``eval`` strings, ``xargs`` and
``find -exec``) and judges each with `programs`. The verdict is the strictest part:
``allow`` only when every part is a known read-only program with safe options and
paths inside the workspace; ``deny`` for what is known to be destructive; ``ask``
for everything else, including every parse problem and every limit reached.
"""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from claude_proxy.settings import LOCAL_FILE
from claude_proxy.tools.base import Behavior, ToolContext
from claude_proxy.tools.guard.judgement import Judgement, ask, deny
from claude_proxy.tools.guard.normalize import normalize
from claude_proxy.tools.guard.options import ANY_VALUE
from claude_proxy.tools.guard.paths import STARTUP_FILES, PathDenied, check_path, secret_under, workspace_roots
from claude_proxy.tools.guard.programs import DOWNLOADERS, INTERPRETERS, WRAPPERS, judge_program
from claude_proxy.tools.guard.reach import link_problem
from claude_proxy.tools.guard.shell import Redirect, Script, SimpleCommand, Word, parse

logger = logging.getLogger(__name__)

MAX_COMMAND_CHARS = 10_000
MAX_PARTS = 64
MAX_NESTING = 4
MAX_GLOB_MATCHES = 200
# Programs with options that write files or run programs: an option-like glob always asks.
RISKY = frozenset({"rg", "sort", "tree", "file", "xxd", "date", "uniq", "git", "find", "sed", "diff", "hostname"})
ECHOES = frozenset({"echo", "printf", "printenv", "test", "["})
SAFE_DEVICES = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/fd/0", "/dev/fd/1", "/dev/fd/2"})
# Redirection targets that ask in every mode: git and editors run code from them later,
# and the project settings file would let one write turn the guard off.
GUARDED_DIRS = frozenset({".git", ".vscode", ".idea", ".devcontainer", ".claude-proxy"})
GUARDED_NAMES = frozenset({LOCAL_FILE, "claude-proxy.yml", ".mcp.json", ".gitmodules", ".gitattributes", ".envrc",
                           *STARTUP_FILES})
RANK = {"allow": 0, "ask": 1, "deny": 2}


def _guarded(reason: str) -> Judgement:
    """A redirection that asks in every mode, acceptEdits included."""
    return Judgement("ask", reason, guarded=True)


@dataclass
class PartVerdict:
    """The verdict on one part: a simple command, a redirection or a piece of syntax.

    ``kind`` is "command" for simple commands (the parts permission rules match),
    "redirect" for a write redirection to a fixed, ordinary file in the workspace (the
    one kind acceptEdits lets run), "guarded" for every other redirection that is not
    safe (reads, run-time targets, files that run code later or hold settings), and
    "syntax" for constructs that are judged as such.
    """

    command: str
    behavior: Behavior
    reason: str
    kind: str = "command"


@dataclass
class CommandVerdict:
    """The overall verdict: the strictest of the parts (deny > ask > allow)."""

    behavior: Behavior
    reason: str
    parts: list[PartVerdict] = field(default_factory=list)


class _Env:
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
        if word.value == "-" or word.value in SAFE_DEVICES:
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
        else:
            target = self._absolute(word.value)
            self.cwd = Path(os.path.realpath(target)) if target is not None else None
            if self.cwd is not None and not self.cwd.is_dir():
                self.cwd = None
                return f"{word.text} is not an existing directory, so the cd may fail"
        if self.cwd is None or not any(self.cwd == r or r in self.cwd.parents for r in self.roots):
            return f"leaves the workspace (to {self.cwd or 'an unknown directory'})"
        return None


def _unwrap(name: Word | None, args: list[Word]) -> str | None:
    """The program a (possibly wrapped) command finally runs: ``nice -n 5 bash`` is bash."""
    for _ in range(MAX_NESTING):
        if name is None or name.value is None:
            return None
        base = os.path.basename(name.value)
        if base not in WRAPPERS:
            return base
        values, leading = WRAPPERS[base]
        i = 0
        while i < len(args) and (args[i].value or "").startswith("-"):
            i += 2 if args[i].value in values else 1
        if base == "env":
            while i < len(args) and "=" in (args[i].value or ""):
                i += 1
        i += leading
        if i >= len(args):
            return base
        name, args = args[i], args[i + 1:]
    return None


class _Judge:
    def __init__(self, context: ToolContext) -> None:
        self.env = _Env(context)
        self.parts: list[PartVerdict] = []
        self.truncated = False

    def add(self, command: str, behavior: Behavior, reason: str, kind: str = "command") -> None:
        if len(self.parts) >= MAX_PARTS:
            if not self.truncated:
                self.truncated = True
                self.parts.append(PartVerdict("…", "ask", f"more than {MAX_PARTS} parts; not analysed", "syntax"))
            return
        self.parts.append(PartVerdict(command, behavior, reason, kind))

    def script(self, source: str, depth: int) -> None:
        if depth > MAX_NESTING:
            self.add(source, "ask", f"shell code nested more than {MAX_NESTING} levels deep", "syntax")
            return
        if len(source) > MAX_COMMAND_CHARS:
            self.add(source[:80] + "…", "ask", f"longer than {MAX_COMMAND_CHARS} characters; not analysed", "syntax")
            return
        text, notes = normalize(source)
        for note in notes:
            self.add(source, "ask", note, "syntax")
        parsed = parse(text)
        for issue in parsed.issues:
            self.add(issue.text, "deny" if issue.deny else "ask", issue.reason, "syntax")
        pending = sorted(parsed.redirects, key=lambda r: r.position)
        for index, command in enumerate(parsed.commands):
            while pending and pending[0].position <= index:
                self.redirect(pending.pop(0))
            self.simple(command, depth)
        for redirect in pending:
            self.redirect(redirect)
        self.downloads(parsed)

    def simple(self, command: SimpleCommand, depth: int) -> None:
        if command.name is None:
            if command.assignments:
                self.add(command.text, "ask", "assigns shell variables")
            return
        start = len(self.parts)
        self.env.scoped = command.scoped
        self.argv(command.name, command.args, command.text, depth)
        if command.assignments and len(self.parts) > start:
            first = self.parts[start]
            names = ", ".join(a.split("=", 1)[0] for a in command.assignments)
            if first.behavior == "allow":
                first.behavior, first.reason = "ask", f"sets environment variables ({names}) for the command"
            else:
                first.reason += f"; sets environment variables ({names})"

    def argv(self, name: Word, args: list[Word], text: str, depth: int) -> None:
        if depth > MAX_NESTING:
            self.add(text, "ask", f"commands nested more than {MAX_NESTING} levels deep")
            return
        if name.value is None:
            self.add(text, "ask", f"the command name {name.text} comes from a variable or substitution")
            return
        base = os.path.basename(name.value) if "/" in name.value else name.value
        verdict = judge_program(base, args, self.env)
        if "/" in name.value and verdict.behavior == "allow":
            verdict = ask(f"runs {name.value} by path rather than the system {base}")
        if verdict.behavior == "allow" and base not in ANY_VALUE:
            problem = self.env.words_problem(base, args)
            if problem:
                verdict = ask(problem)
        self.add(text, verdict.behavior, verdict.reason)
        for inner in verdict.inner:
            if inner:
                self.argv(inner[0], inner[1:], " ".join(w.text for w in inner if w.text != "<input>"), depth + 1)
        if verdict.script is not None:
            self.script(verdict.script, depth + 1)

    def redirect(self, redirect: Redirect) -> None:
        target = redirect.target
        if target is None or redirect.op in ("<<", "<<-", "<<<"):
            return
        if redirect.op in (">&", "<&", ">&-", "<&-") and (target.value or "").rstrip("-").isdigit():
            return
        if redirect.op == "<":
            problem = self.env.read_problem(target)
            if problem:
                self.add(redirect.text, "ask", f"reads {problem}", "guarded")
            return
        verdict = self.env.write_problem(target)
        if verdict is not None:
            self.add(redirect.text, verdict.behavior, verdict.reason, "guarded" if verdict.guarded else "redirect")

    def downloads(self, parsed: Script) -> None:
        """A download piped or substituted into a shell or interpreter is denied."""
        for pipeline in parsed.pipelines:
            names = [_unwrap(c.name, c.args) for c in pipeline]
            for index, name in enumerate(names):
                if name in DOWNLOADERS and any(
                    later in INTERPRETERS or (later or "").startswith("python") for later in names[index + 1:]
                ):
                    shown = " | ".join(c.text for c in pipeline)
                    self.add(shown, "deny", "pipes a download into a shell or interpreter", "syntax")
                    break
        for command in parsed.commands:
            if _unwrap(command.name, command.args) not in DOWNLOADERS:
                continue
            parent = command.parent
            while parent is not None:
                if _unwrap(parent.name, parent.args) in INTERPRETERS:
                    self.add(parent.text, "deny", "runs downloaded code through a shell or interpreter", "syntax")
                    break
                parent = parent.parent


def summarize(parts: list[PartVerdict]) -> CommandVerdict:
    """Fold part verdicts into the overall verdict with a readable reason."""
    if not parts:
        return CommandVerdict("ask", "there is no command to run", parts)
    worst = max(parts, key=lambda p: RANK[p.behavior]).behavior
    if worst == "allow":
        names = list(dict.fromkeys(p.command.split()[0] for p in parts if p.command.split()))
        return CommandVerdict("allow", "read-only: " + ", ".join(names[:8]), parts)
    reasons = list(dict.fromkeys(p.reason for p in parts if p.behavior == worst))
    reason = "; ".join(reasons[:3]) + (f" (and {len(reasons) - 3} more)" if len(reasons) > 3 else "")
    return CommandVerdict(worst, reason, parts)


def judge_command(command: str, context: ToolContext) -> CommandVerdict:
    """Judge a shell command; ``allow`` means proven read-only and safe.

    Touches the file system (symlinks, globs), so async callers run it in a thread.
    """
    if not isinstance(command, str) or not command.strip():
        return CommandVerdict("ask", "there is no command to run")
    judge = _Judge(context)
    try:
        judge.script(command, 0)
    except RecursionError:
        return CommandVerdict("ask", "too deeply nested to analyse", judge.parts)
    except Exception as exc:  # the guard fails closed: any error of its own is a verdict, never a crash
        logger.warning("command validator failed on %r", command[:200], exc_info=True)
        return CommandVerdict("ask", f"the command validator could not judge this command ({type(exc).__name__})",
                              judge.parts)
    return summarize(judge.parts)
