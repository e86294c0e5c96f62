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

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from claude_proxy.tools.base import Behavior, ToolContext
from claude_proxy.tools.guard.judgement import ask
from claude_proxy.tools.guard.normalize import normalize
from claude_proxy.tools.guard.options import ANY_VALUE
from claude_proxy.tools.guard.programs import DOWNLOADERS, INTERPRETERS, WRAPPERS, judge_program
from claude_proxy.tools.guard.readers import SAFE_VARIABLES
from claude_proxy.tools.guard.shell import Redirect, Script, SimpleCommand, Word, parse
from claude_proxy.tools.guard.view import WorkspaceView

logger = logging.getLogger(__name__)

MAX_COMMAND_CHARS = 10_000
MAX_PARTS = 64
MAX_NESTING = 4
RANK = {"allow": 0, "ask": 1, "deny": 2}
# Shell builtins: bash runs them itself, whatever PATH holds.
BUILTINS = frozenset({"echo", "printf", "pwd", "cd", "pushd", "popd", "true", "false", ":", "test", "[", "type",
                      "command"})


@dataclass
class PartVerdict:
    """The verdict on one part: a simple command, a redirection or a piece of syntax.

    ``kind`` is "command" for simple commands (the parts permission rules match),
    "redirect" for a write redirection to a fixed, ordinary file in the workspace (the
    one kind acceptEdits lets run), "guarded" for every other redirection that is not
    safe (reads, run-time targets, files that run code later or hold settings), and
    "syntax" for constructs that are judged as such, "failure" for a command the validator
    could not judge at all (no rule approves that).
    """

    command: str
    behavior: Behavior
    reason: str
    kind: str = "command"
    words: tuple[str | None, ...] = ()  # a command's words after quote removal (None: known only at run time)
    where: Path | None = None  # the directory the part runs in, as the judge followed cd (None: not known)


@dataclass
class CommandVerdict:
    """The overall verdict: the strictest of the parts (deny > ask > allow)."""

    behavior: Behavior
    reason: str
    parts: list[PartVerdict] = field(default_factory=list)


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
        self.env = WorkspaceView(context)
        self.parts: list[PartVerdict] = []
        self.truncated = False

    def add(self, command: str, behavior: Behavior, reason: str, kind: str = "command",
            words: tuple[str | None, ...] = ()) -> None:
        if len(self.parts) >= MAX_PARTS:
            if not self.truncated:
                self.truncated = True
                self.parts.append(PartVerdict("…", "ask", f"more than {MAX_PARTS} parts; not analysed", "syntax"))
            return
        self.parts.append(PartVerdict(command, behavior, reason, kind, words, self.env.cwd))

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
        for shown, variable in parsed.expansions:
            if variable not in SAFE_VARIABLES:
                self.add(shown, "ask", f"expands {shown} into a here-document or redirection; it may hold a secret",
                         "syntax")
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
        if verdict.behavior == "allow" and base not in BUILTINS:
            problem = self.env.program_problem(base)
            if problem:
                verdict = ask(problem)
        self.add(text, verdict.behavior, verdict.reason, words=(name.value, *(arg.value for arg in args)))
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
                self.add(redirect.text, "ask", f"reads {problem}", "guarded", (target.value,))
            return
        verdict = self.env.write_problem(target)
        if verdict is not None:
            self.add(redirect.text, verdict.behavior, verdict.reason, "guarded" if verdict.guarded else "redirect",
                     (target.value,))

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
        reason = "too deeply nested to analyse"
    except Exception as exc:  # the guard fails closed: any error of its own is a verdict, never a crash
        logger.warning("command validator failed on %r", command[:200], exc_info=True)
        reason = f"the command validator could not judge this command ({type(exc).__name__})"
    else:
        return summarize(judge.parts)
    # A part of its own: a rule that approves every other part must not approve what was never judged.
    return CommandVerdict("ask", reason, [*judge.parts, PartVerdict(command[:200], "ask", reason, "failure")])
