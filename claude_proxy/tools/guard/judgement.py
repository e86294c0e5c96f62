"""The shared vocabulary of the command validator: a program's verdict and option scanning.

`Judgement` is one program's verdict plus what it would run for us; `Env` is the
judge's view of the workspace; `scan` splits arguments GNU-getopt style, accepting
the unambiguous long-option abbreviations GNU tools accept (``--out`` is
``--output``), so an abbreviation cannot slip a dangerous option past a check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from claude_proxy.tools.base import Behavior
from claude_proxy.tools.guard.shell import Word


@dataclass
class Judgement:
    """One program's verdict, plus what it would run on our behalf."""

    behavior: Behavior
    reason: str
    inner: list[list[Word]] = field(default_factory=list)
    script: str | None = None


class Env(Protocol):
    """The judge's view of the workspace, implemented in `commands`."""

    cwd: Path | None

    def read_problem(self, word: Word) -> str | None: ...
    def write_problem(self, word: Word) -> Judgement | None: ...
    def removal_problem(self, word: Word) -> Judgement | None: ...
    def change_dir(self, word: Word | None) -> str | None: ...
    def secret_problem(self, word: Word, hidden: bool, gitignore: bool) -> str | None: ...


def ok(reason: str) -> Judgement:
    return Judgement("allow", reason)


def ask(reason: str, inner: list[list[Word]] | None = None, script: str | None = None) -> Judgement:
    return Judgement("ask", reason, inner or [], script)


def deny(reason: str) -> Judgement:
    return Judgement("deny", reason)


@dataclass(frozen=True)
class Spec:
    """Options of a read-only program: which take values, which make it unsafe."""

    values: frozenset[str] = frozenset()
    path_values: frozenset[str] = frozenset()
    bad: frozenset[str] = frozenset()
    paths: bool = True
    pattern_first: bool = False
    max_positionals: int | None = None


def spec(values: str = "", path_values: str = "", bad: str = "", *, paths: bool = True,
         pattern_first: bool = False, max_positionals: int | None = None) -> Spec:
    """A `Spec` from space-separated option lists (short and long forms alike)."""
    return Spec(frozenset(values.split()), frozenset(path_values.split()), frozenset(bad.split()),
                paths, pattern_first, max_positionals)


def long_matches(given: str, options: frozenset[str]) -> str | None:
    """The option ``given`` names, allowing GNU-style unambiguous abbreviations."""
    name = given.split("=", 1)[0]
    if name in options:
        return name
    if len(name) > 2:
        for option in options:
            if option.startswith("--") and option.startswith(name):
                return option
    return None


@dataclass
class Scan:
    positionals: list[Word] = field(default_factory=list)
    options: list[tuple[str, Word | None]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    bad: str | None = None


def scan(args: list[Word], spec: Spec, stop_at_positional: bool = False) -> Scan:
    """Split arguments into options (with values) and positionals, GNU getopt style."""
    out = Scan()
    takes = spec.values | spec.path_values
    i = 0
    while i < len(args):
        word = args[i]
        value = word.value
        i += 1
        if out.positionals and stop_at_positional:
            out.positionals.extend(args[i - 1:])
            break
        if value is None or value == "-" or not value.startswith("-"):
            out.positionals.append(word)
            continue
        if value == "--":
            out.positionals.extend(args[i:])
            break
        if value.startswith("--"):
            if long_matches(value, spec.bad):
                out.bad = value
            name = long_matches(value, takes)
            if name and "=" not in value:
                out.options.append((name, args[i] if i < len(args) else None))
                i += 1
            elif name:
                out.options.append((name, Word(value, value.split("=", 1)[1])))
            else:
                out.flags.append(value)
            continue
        for index, letter in enumerate(value[1:], start=1):
            option = "-" + letter
            if option in spec.bad:
                out.bad = option
            if option in takes:
                rest = value[index + 1:]
                if rest:
                    out.options.append((option, Word(rest, rest)))
                else:
                    out.options.append((option, args[i] if i < len(args) else None))
                    i += 1
                break
            out.flags.append(option)
    return out


