"""An awk program checker: is a program free of everything that writes, runs or reads beyond its input?

awk can run commands (``system()``, ``"cmd" | getline``, ``print | "cmd"``), write
files (``print > "f"``), read other files (``getline < "f"``), read the environment
(``ENVIRON``, gawk's ``PROCINFO``) and load code (gawk's ``@include``/``@load``).
Telling ``>`` the comparison from ``>`` the redirection needs a full awk parser, so
this accepts only programs that, outside string literals, use none of ``|``, ``>``,
``@`` or those names at all: ``{print $1}``, ``NR==1``, ``/re/ {n++} END {print n}``.
"""

from __future__ import annotations

import re

FORBIDDEN_NAMES = re.compile(r"\b(system|getline|close|fflush|ENVIRON|PROCINFO|SYMTAB|FUNCTAB|ARGV|ARGC)\b")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def awk_problem(program: str) -> str | None:
    """Why an awk program is not proven harmless, or None when it is."""
    code = _STRING.sub('""', program)
    if '"' in code.replace('""', ""):
        return "has an unterminated string"
    for char, what in (("|", "pipes to or from a command"), (">", "may redirect output to a file"),
                       ("@", "loads or includes code")):
        if char in code:
            return f"uses {char!r}, which {what} (or is not told apart from it here)"
    found = FORBIDDEN_NAMES.search(code)
    if found:
        return f"uses {found.group(1)}, which runs commands, reads files or the environment"
    return None
