"""Text clean-up before parsing: what bash would do with the bytes, made visible.

Line continuations are joined exactly where bash joins them (outside single quotes
and comments), so ``r\\<newline>m`` is judged as ``rm``. Invisible and look-alike
whitespace (NBSP, em space, zero-width characters, control characters) cannot be
told apart from real separators by a reader, so they are turned into spaces (or
dropped) for parsing, and their presence alone keeps a command from being ``allow``;
so does non-ASCII punctuation (a fullwidth ``；`` or ``｜``) that a reader would take
for shell syntax bash does not see.
"""

from __future__ import annotations

import unicodedata

_SPACE_LIKE = {"Zs", "Zl", "Zp"}


def _invisible(ch: str) -> bool:
    if ch in "\t\n":
        return False
    category = unicodedata.category(ch)
    return category in _SPACE_LIKE and ch != " " or category in ("Cc", "Cf")


def normalize(source: str) -> tuple[str, list[str]]:
    """Join line continuations as bash does and turn look-alike whitespace into spaces.

    Returns the text to parse and notes on what was changed; any note makes the
    command at best ``ask``. Zero-width characters are dropped and space look-alikes
    become spaces, so a hidden ``sudo`` or ``rm`` is seen rather than missed.
    """
    notes: list[str] = []
    odd = sorted({ch for ch in source if _invisible(ch)})
    if odd:
        names = ", ".join(f"U+{ord(ch):04X}" for ch in odd[:4])
        notes.append(f"contains invisible or look-alike whitespace characters ({names})")
        source = "".join(
            ("" if unicodedata.category(ch) == "Cf" else " ") if _invisible(ch) else ch for ch in source
        )
    lookalike = sorted({ch for ch in source if ord(ch) > 127 and unicodedata.category(ch)[0] in "PS"})
    if lookalike:
        names = ", ".join(f"U+{ord(ch):04X}" for ch in lookalike[:4])
        notes.append(f"contains non-ASCII punctuation that looks like shell syntax ({names})")
    joined = _join_continuations(source)
    if joined != source:
        notes.append("uses line continuations (backslash-newline)")
        if "<<" in source:
            notes.append("mixes line continuations with a here-document")
    return joined, notes


def _join_continuations(source: str) -> str:
    """Remove backslash-newline outside single quotes and comments, as bash's reader does."""
    out: list[str] = []
    i, n = 0, len(source)
    state = "plain"
    while i < n:
        ch = source[i]
        if state == "single":
            out.append(ch)
            if ch == "'":
                state = "plain"
            i += 1
            continue
        if state == "comment":
            out.append(ch)
            if ch == "\n":
                state = "plain"
            i += 1
            continue
        if ch == "\\" and i + 1 < n:
            if source[i + 1] == "\n":
                i += 2
                continue
            out.append(source[i:i + 2])
            i += 2
            continue
        if state == "double":
            if ch == '"':
                state = "plain"
        elif ch == "'":
            state = "single"
        elif ch == '"':
            state = "double"
        elif ch == "#" and (not out or out[-1][-1:] in (" ", "\t", "\n", ";", "&", "|", "(")):
            state = "comment"
        out.append(ch)
        i += 1
    return "".join(out)
