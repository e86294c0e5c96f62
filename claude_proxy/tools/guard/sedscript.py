"""A sed script checker: is a script free of commands that write files or run programs?

GNU sed can write files (``w``, ``W``, the ``w`` flag of ``s``), run commands (``e``,
the ``e`` flag of ``s``) and read other files (``r``, ``R``). A regex for "no w in
the script" is easy to fool, so this walks the script the way sed does and accepts
only commands it knows to be harmless; anything it does not understand is unsafe.
"""

from __future__ import annotations

SIMPLE = set("=dDgGhHlnNpPxzF")
WITH_LABEL = set("btT:")
WITH_TEXT = set("aic")
WITH_NUMBER = set("qQlL")
FILE_COMMANDS = {"w": "writes a file", "W": "writes a file", "r": "reads a file", "R": "reads a file",
                 "e": "runs a shell command"}
S_FLAGS = set("gpiImM0123456789")


class _Script:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def take(self) -> str:
        ch = self.peek()
        self.i += 1
        return ch

    def skip_blank(self) -> None:
        while self.peek() in (" ", "\t"):
            self.i += 1

    def until_newline(self) -> None:
        while self.peek() not in ("", "\n"):
            self.i += 1

    def delimited(self, delim: str) -> bool:
        """Consume up to and including an unescaped ``delim``; False when it never comes."""
        while True:
            ch = self.take()
            if ch == "":
                return False
            if ch == "\\":
                if self.take() == "":
                    return False
                continue
            if ch == delim:
                return True


def _address(script: _Script) -> str | None:
    ch = script.peek()
    if ch.isdigit():
        while script.peek().isdigit() or script.peek() == "~":
            script.take()
    elif ch == "$":
        script.take()
    elif ch in ("/", "\\"):
        script.take()
        delim = script.take() if ch == "\\" else "/"
        if not delim or not script.delimited(delim):
            return "has an unterminated address"
        while script.peek() in ("I", "M"):
            script.take()
    elif ch in ("+", "~"):
        script.take()
        while script.peek().isdigit():
            script.take()
    return None


def _substitute(script: _Script, command: str) -> str | None:
    delim = script.take()
    if delim in ("", "\n", "\\"):
        return f"has a malformed {command} command"
    parts = 2
    for _ in range(parts):
        if not script.delimited(delim):
            return f"has an unterminated {command} command"
    if command == "y":
        return None
    while script.peek() not in ("", "\n", ";", "}", " ", "\t", "#"):
        flag = script.take()
        if flag in ("w", "W"):
            return "uses the s///w flag, which writes a file"
        if flag == "e":
            return "uses the s///e flag, which runs a shell command"
        if flag not in S_FLAGS:
            return f"uses an unknown s/// flag {flag!r}"
    return None


def sed_problem(text: str) -> str | None:
    """Why a sed script is not proven harmless, or None when it is."""
    script = _Script(text)
    while True:
        while script.peek() in (" ", "\t", "\n", ";"):
            script.take()
        ch = script.peek()
        if ch == "":
            return None
        if ch == "#":
            script.until_newline()
            continue
        for _ in range(2):
            problem = _address(script)
            if problem:
                return problem
            script.skip_blank()
            if script.peek() != ",":
                break
            script.take()
            script.skip_blank()
        script.skip_blank()
        while script.peek() == "!":
            script.take()
            script.skip_blank()
        command = script.take()
        if command in ("{", "}") or command in SIMPLE:
            continue
        if command in FILE_COMMANDS:
            return f"uses the {command} command, which {FILE_COMMANDS[command]}"
        if command in ("s", "y"):
            problem = _substitute(script, command)
            if problem:
                return problem
        elif command in WITH_LABEL:
            while script.peek() not in ("", "\n", ";", "}"):
                script.take()
        elif command in WITH_NUMBER:
            script.skip_blank()
            while script.peek().isdigit():
                script.take()
        elif command in WITH_TEXT:
            _text_argument(script)
        else:
            return f"uses a sed command that is not known to be harmless ({command!r})"


def _text_argument(script: _Script) -> None:
    """a/i/c text runs to an unescaped newline; a backslash keeps the next character."""
    while True:
        ch = script.take()
        if ch in ("", "\n"):
            return
        if ch == "\\":
            script.take()
