"""The shared vocabulary of the command validator: a program's verdict and option scanning.

`Judgement` is one program's verdict plus what it would run for us; `Env` is the
judge's view of the workspace; `Spec` is a program's option allow-list and `scan`
splits arguments against it the way GNU getopt would. Options outside the table ask;
so do abbreviated long options (GNU tools accept ``--out`` for ``--output``, and
only the real program's full table says what an abbreviation means), and words only
known at run time where an option could stand.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
    guarded: bool = False


class Env(Protocol):
    """The judge's view of the workspace, implemented in `commands`."""

    cwd: Path | None
    roots: list[Path]

    def link_problem(self, word: Word) -> str | None: ...
    def matching_secret_problem(self, word: Word, globs: list[str]) -> str | None: ...
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


def long_matches(given: str, options: frozenset[str]) -> str | None:
    """The option ``given`` could name, counting GNU-style abbreviations (for refusals only)."""
    name = given.split("=", 1)[0]
    if name in options:
        return name
    if len(name) > 2:
        for option in options:
            if option.startswith("--") and option.startswith(name):
                return option
    return None


@dataclass(frozen=True)
class Spec:
    """The allow-list of one program's options, each with its GNU argument shape.

    ``flags`` take no argument; ``values`` require one (attached, after ``=``, or the
    next word); ``optional`` take one only when attached (``--color=never``, ``-U3``)
    and never consume the next word. Anything else is not in the table and asks.
    ``path_values`` are the options whose argument is a file the program reads.
    ``whole_words`` is for programs whose options are whole words (``find``, ``xxd``);
    ``options_first`` for programs that stop reading options at the first operand, as POSIX
    getopt does (``xxd FILE -ps`` names an output file ``-ps``, not an option).
    """

    flags: frozenset[str] = frozenset()
    values: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()
    path_values: frozenset[str] = frozenset()
    paths: bool = True
    pattern_first: bool = False
    max_positionals: int | None = None
    numeric: bool = False
    whole_words: bool = False
    options_first: bool = False


def spec(flags: str = "", values: str = "", optional: str = "", path_values: str = "", *, paths: bool = True,
         pattern_first: bool = False, max_positionals: int | None = None, numeric: bool = False,
         whole_words: bool = False, options_first: bool = False) -> Spec:
    """A `Spec` from space-separated option lists (short and long forms alike)."""
    return Spec(frozenset(flags.split()), frozenset(values.split() + path_values.split()),
                frozenset(optional.split()), frozenset(path_values.split()), paths, pattern_first,
                max_positionals, numeric, whole_words, options_first)


def merge(*specs: Spec, **changes: object) -> Spec:
    """The union of several option tables (git's subcommands share the diff/log options)."""
    first = specs[0]
    merged = Spec(frozenset().union(*(s.flags for s in specs)), frozenset().union(*(s.values for s in specs)),
                  frozenset().union(*(s.optional for s in specs)),
                  frozenset().union(*(s.path_values for s in specs)), first.paths, first.pattern_first,
                  first.max_positionals, any(s.numeric for s in specs), first.whole_words)
    return replace(merged, **changes)  # type: ignore[arg-type]


@dataclass
class Scan:
    """Arguments split the way the program's getopt will split them."""

    positionals: list[Word] = field(default_factory=list)
    options: list[tuple[str, Word | None]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    problem: str | None = None
    after_dashes: int | None = None


def _long(value: str, spec: Spec, args: list[Word], i: int, out: Scan) -> int:
    name, has_value, attached = value.partition("=")
    if name in spec.flags and not has_value:
        out.flags.append(name)
    elif name in spec.optional:
        out.options.append((name, Word(attached, attached) if has_value else None))
    elif name in spec.values:
        if has_value:
            out.options.append((name, Word(attached, attached)))
        else:
            out.options.append((name, args[i] if i < len(args) else None))
            return i + 1
    elif any(option.startswith(name) for option in spec.flags | spec.values | spec.optional) and len(name) > 2:
        out.problem = out.problem or f"{name} is not an option known to be safe (long options must be spelled out)"
    else:
        out.problem = out.problem or f"{value.split('=', 1)[0]} is not an option known to be safe"
    return i


def _short(value: str, spec: Spec, args: list[Word], i: int, out: Scan) -> int:
    if spec.numeric and value[1:].isdigit():
        out.flags.append(value)
        return i
    for index, letter in enumerate(value[1:], start=1):
        option = "-" + letter
        rest = value[index + 1:]
        if option in spec.flags:
            out.flags.append(option)
            continue
        if option in spec.optional:
            out.options.append((option, Word(rest, rest) if rest else None))
            return i
        if option in spec.values:
            if rest:
                out.options.append((option, Word(rest, rest)))
                return i
            out.options.append((option, args[i] if i < len(args) else None))
            return i + 1
        out.problem = out.problem or f"{value} has the option {option}, which is not known to be safe"
        return i
    return i


def _whole(value: str, spec: Spec, args: list[Word], i: int, out: Scan) -> int:
    if value in spec.flags:
        out.flags.append(value)
    elif value in spec.values:
        out.options.append((value, args[i] if i < len(args) else None))
        return i + 1
    elif value[:2] in spec.optional and value[2:]:
        out.options.append((value[:2], Word(value[2:], value[2:])))
    else:
        out.problem = out.problem or f"{value} is not an option known to be safe"
    return i


def scan(args: list[Word], spec: Spec, stop_at_positional: bool = False) -> Scan:
    """Split arguments into options and positionals as GNU getopt would, against the allow-list.

    An option outside the table, an abbreviated long option, or a word whose value is
    only known at run time in a place where it could be an option sets ``problem``.
    """
    out = Scan()
    i = 0
    while i < len(args):
        word = args[i]
        value = word.value
        i += 1
        if out.positionals and (stop_at_positional or spec.options_first):
            out.positionals.extend(args[i - 1:])
            break
        if value is None:
            out.problem = out.problem or f"{word.text} is only known at run time and could be an option"
            out.positionals.append(word)
            continue
        if value == "-" or not value.startswith("-"):
            if spec.whole_words and value in spec.flags:
                out.flags.append(value)
            else:
                out.positionals.append(word)
            continue
        if value == "--":
            out.after_dashes = len(out.positionals)
            out.positionals.extend(args[i:])
            break
        if spec.whole_words:
            i = _whole(value, spec, args, i, out)
        elif value.startswith("--"):
            i = _long(value, spec, args, i, out)
        else:
            i = _short(value, spec, args, i, out)
    return out
