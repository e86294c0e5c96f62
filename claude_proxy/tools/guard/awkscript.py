"""An awk program checker: is a program free of everything that writes, runs or reads beyond its input?

awk can run commands (``system()``, ``"cmd" | getline``, ``print | "cmd"``), write
files (``print > "f"``), read other files (``getline < "f"``), read the environment
(``ENVIRON``, gawk's ``PROCINFO``) and load code (gawk's ``@include``/``@load``).
Telling ``>`` the comparison from ``>`` the redirection needs a full awk parser, so
this accepts only programs that, outside string literals, regex literals and comments,
use none of ``|``, ``>``, ``@`` or those names at all: ``{print $1}``, ``NR==1``,
``/re/ {n++} END {print n}``. Literals and comments are found as awk's lexer finds them
(`code_of`): a ``"`` inside a regex or a comment opens no string.
"""

from __future__ import annotations

import re

FORBIDDEN_NAMES = re.compile(r"\b(system|getline|close|fflush|ENVIRON|PROCINFO|SYMTAB|FUNCTAB|ARGV|ARGC)\b")
# After these (or at the start) a ``/`` opens a regex; after an operand it divides. Keywords such
# as ``print`` count as operands here: awk reads a regex there, this reads code, which only
# means more of the program is checked.
_BEFORE_REGEX = frozenset("(,{};!~&|=<>?:+-*%^\n")


def code_of(program: str) -> str | None:
    """The program with its string literals, regex literals and comments taken out, as awk reads
    them (a ``"`` in a regex or a comment opens no string); None when one never ends."""
    out: list[str] = []
    previous = ""
    i, size = 0, len(program)
    while i < size:
        char = program[i]
        if char in " \t":
            out.append(char)
            i += 1
            continue
        if char == "#":
            end = program.find("\n", i)
            i = size if end < 0 else end
            continue
        if char == '"' or (char == "/" and (previous == "" or previous in _BEFORE_REGEX)):
            closed = _literal_end(program, i)
            if closed is None:
                return None
            out.append(char * 2)
            previous, i = "x", closed + 1  # a literal is an operand: a "/" after it divides
            continue
        out.append(char)
        previous, i = char, i + 1
    return "".join(out)


def _literal_end(program: str, start: int) -> int | None:
    """Where the string or regex opening at ``start`` closes (the first unescaped same quote)."""
    quote, i = program[start], start + 1
    while i < len(program):
        if program[i] == "\\":
            i += 2
        elif program[i] == quote:
            return i
        elif program[i] == "\n" and quote == "/":
            return None  # a regex ends on its line
        else:
            i += 1
    return None


def awk_problem(program: str) -> str | None:
    """Why an awk program is not proven harmless, or None when it is."""
    code = code_of(program)
    if code is None:
        return "has a string or regex that never ends"
    for char, what in (("|", "pipes to or from a command"), (">", "may redirect output to a file"),
                       ("@", "loads or includes code")):
        if char in code:
            return f"uses {char!r}, which {what} (or is not told apart from it here)"
    found = FORBIDDEN_NAMES.search(code)
    if found:
        return f"uses {found.group(1)}, which runs commands, reads files or the environment"
    return None
