"""Shell words: the value a word has after quote removal, or why it has none until run time.

`word_of` turns a tree-sitter-bash word node into a `Word`: its source text, its
static value when bash would give it one without running anything (quotes removed,
``~`` and ``~/`` expanded), whether it is a glob or a brace expansion, and for a word
built from plain ``$NAME`` expansions the names it expands (so ``echo $HOME`` can
be told from ``echo $API_KEY``). Words are read from the original text through
`SOURCE`, which `shell.parse` sets for the duration of a parse.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from dataclasses import dataclass

from tree_sitter import Node

_BRACE = re.compile(r"\{[^{}]*(,|\.\.)[^{}]*\}")
_GLOB = re.compile(r"(?<!\\)[*?\[]")
_PLAIN_VAR = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})")
_SPECIAL_VAR = re.compile(r"\$(?:([?#$!0-]))")


@dataclass
class Word:
    """One shell word: its source and, when it is static, its value after quote removal."""

    text: str
    value: str | None
    glob: bool = False
    brace: bool = False
    leading_var: str | None = None
    variables: tuple[str, ...] | None = ()

    @property
    def static(self) -> bool:
        return self.value is not None


SOURCE: ContextVar[bytes] = ContextVar("SOURCE", default=b"")

def text_of(node: Node) -> str:
    """The node's original text (the parser only ever sees the ASCII stand-in, see `parse`)."""
    return SOURCE.get()[node.start_byte:node.end_byte].decode("utf-8", errors="replace")


def _unescape_plain(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.S)


def _unescape_double(text: str) -> str:
    return re.sub(r'\\([$`"\\])', r"\1", text)


def _variables(node: Node) -> tuple[str, ...] | None:
    """The variables a word expands, when plain ``$NAME``/``${NAME}`` expansions are all it has."""
    kind = node.type
    if kind in ("simple_expansion", "expansion"):
        text = text_of(node)
        match = _PLAIN_VAR.fullmatch(text) or _SPECIAL_VAR.fullmatch(text)
        return (next(g for g in match.groups() if g),) if match else None
    if kind in ("word", "number", "raw_string", "string_content"):
        return ()
    if kind in ("string", "concatenation"):
        names: list[str] = []
        for child in node.named_children:
            found = _variables(child)
            if found is None:
                return None
            names.extend(found)
        return tuple(names)
    return None


def word_of(node: Node) -> Word:
    """The static value of a word node, or ``value=None`` when it depends on expansion."""
    word = _word_of(node)
    if word.value is None:
        word.variables = _variables(node) if node.type != "word" else None
    return word


PROCESS_INPUT = "/dev/fd/63"


def is_input_substitution(node: Node) -> bool:
    """``<(cmd)``: bash runs cmd (judged like any command) and passes a pipe's path as the word."""
    return node.type == "process_substitution" and text_of(node).startswith("<(")


def _word_of(node: Node) -> Word:
    text = text_of(node)
    kind = node.type
    if is_input_substitution(node):
        return Word(text, PROCESS_INPUT)
    if kind == "word":
        value = _unescape_plain(text)
        if value == "~" or value.startswith("~/"):
            value = os.path.expanduser("~") + value[1:]
        elif value.startswith("~"):
            return Word(text, None)
        return Word(text, value, glob=bool(_GLOB.search(text)), brace=bool(_BRACE.search(text)))
    if kind == "number":
        return Word(text, text)
    if kind == "raw_string":
        return Word(text, text[1:-1])
    if kind == "string":
        parts: list[str] = []
        for child in node.named_children:
            if child.type != "string_content":
                leading = var_name(child) if not parts else None
                return Word(text, None, leading_var=leading)
            parts.append(_unescape_double(text_of(child)))
        return Word(text, "".join(parts))
    if kind == "concatenation":
        values: list[str] = []
        glob = brace = False
        leading = None
        for index, child in enumerate(node.named_children):
            sub = _word_of(child)
            if index == 0:
                leading = sub.leading_var or var_name(child)
            if sub.value is None:
                return Word(text, None, leading_var=leading)
            values.append(sub.value)
            glob = glob or sub.glob
        brace = bool(_BRACE.search(text))
        return Word(text, "".join(values), glob=glob, brace=brace)
    return Word(text, None, leading_var=var_name(node))


def var_name(node: Node) -> str | None:
    """``HOME`` for ``$HOME`` or ``${HOME}``; None for anything fancier."""
    if node.type in ("simple_expansion", "expansion"):
        match = _PLAIN_VAR.fullmatch(text_of(node))
        return match.group(1) or match.group(2) if match else None
    if node.type == "string" and node.named_child_count:
        return var_name(node.named_children[0])
    return None


def special_name(node: Node) -> str | None:
    match = _SPECIAL_VAR.fullmatch(text_of(node))
    return match.group(1) if match else None
