"""Bash source to simple commands, with tree-sitter and the tree-sitter-bash grammar.

Why tree-sitter-bash: it is maintained by the tree-sitter project, covers modern bash
(process substitution, here-documents, ``[[ ]]``, arithmetic, ANSI-C quoting), never
gives up on odd input but marks exactly where it failed (ERROR and MISSING nodes), and
ships as prebuilt wheels. bashlex, the usual alternative, is a port of an old bash
grammar that raises on many real scripts and sees few releases.

The walk is deliberately suspicious. Every node type it does not know, every parse
error and every construct whose effect depends on run-time values (substitutions,
expansions, assignments, control flow, functions) becomes an *issue*: a reason the
command cannot be proven safe. Commands nested anywhere (in substitutions, loops,
functions, here-documents) are still collected, so a dangerous one is found wherever
it hides. The text is cleaned up first (see `normalize`), and the parser only ever
sees an ASCII stand-in of it (see `parse`). Words become `words.Word` values; every
command records whether it sits in a scope of its own (subshell, pipeline,
substitution, loop, function, background job), where a ``cd`` moves nothing after
it, and expansions inside here-documents and here-strings are listed so the judge
can tell ``$HOME`` from ``$API_KEY``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

from claude_proxy.tools.guard.words import (
    SOURCE,
    Word,
    is_input_substitution,
    special_name,
    text_of,
    var_name,
    word_of,
)

MAX_TREE_DEPTH = 120

STRUCTURAL = frozenset({"program", "list", "pipeline", "subshell", "compound_statement", "negated_command", "comment"})
CONTROL_FLOW = frozenset({
    "if_statement", "elif_clause", "else_clause", "while_statement", "for_statement",
    "c_style_for_statement", "case_statement", "case_item", "do_group",
})
WORDISH = frozenset({
    "word", "number", "string", "raw_string", "concatenation", "simple_expansion", "expansion",
    "variable_name", "special_variable_name", "string_content", "ansi_c_string", "translated_string",
})
REDIRECTS = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
SUBSTITUTIONS = {
    "command_substitution": "command substitution ($() or backticks)",
    "process_substitution": "process substitution (<() or >())",
    "arithmetic_expansion": "arithmetic expansion $(( ))",
}


@dataclass
class Redirect:
    """A redirection: operator, optional fd, and the target word (None for ``>&2``-style dups)."""

    text: str
    op: str
    target: Word | None
    position: int = 0


@dataclass
class SimpleCommand:
    """One simple command wherever it appeared, in source order."""

    text: str
    name: Word | None
    args: list[Word] = field(default_factory=list)
    assignments: list[str] = field(default_factory=list)
    parent: "SimpleCommand | None" = None
    scoped: bool = False


@dataclass
class Issue:
    """A construct that keeps the whole command from being proven safe."""

    text: str
    reason: str
    deny: bool = False


@dataclass
class Script:
    """Everything the judge needs from one parse."""

    commands: list[SimpleCommand] = field(default_factory=list)
    pipelines: list[list[SimpleCommand]] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    expansions: list[tuple[str, str | None]] = field(default_factory=list)


@lru_cache(maxsize=1)
def _language() -> Language:
    return Language(tree_sitter_bash.language())


def _parser() -> Parser:
    """A fresh parser for every parse: no scanner state carries over, nothing is shared
    between threads, and creating one costs microseconds."""
    return Parser(_language())


_NON_ASCII = re.compile(rb"[\x80-\xff]")


SCOPES = frozenset({"subshell", "pipeline", "function_definition", *SUBSTITUTIONS, *CONTROL_FLOW})


class _Walker:
    def __init__(self) -> None:
        self.script = Script()
        self.scope = 0

    def issue(self, node: Node | str, reason: str, deny: bool = False) -> None:
        text = node if isinstance(node, str) else text_of(node)
        self.script.issues.append(Issue(text, reason, deny))

    def walk(self, node: Node, depth: int, parent: SimpleCommand | None) -> SimpleCommand | None:
        """Visit ``node``; return the SimpleCommand it is, when it is one.

        Subshells, pipelines, substitutions, loops, functions and background jobs are a
        scope of their own: a ``cd`` there does not move the commands after it.
        """
        scoped = node.type in SCOPES or (node.next_sibling is not None and node.next_sibling.type == "&")
        self.scope += scoped
        try:
            return self._walk(node, depth, parent)
        finally:
            self.scope -= scoped

    def _walk(self, node: Node, depth: int, parent: SimpleCommand | None) -> SimpleCommand | None:
        if depth > MAX_TREE_DEPTH:
            self.issue(node, "nested too deeply to analyse")
            return None
        kind = node.type
        if node.is_missing or kind == "ERROR":
            self.issue(node, "could not be parsed as shell syntax")
        elif kind == "command":
            return self.command(node, depth, parent)
        elif kind == "redirected_statement":
            return self.redirected(node, depth, parent)
        elif kind == "pipeline":
            members = [self.walk(child, depth + 1, parent) for child in node.named_children]
            self.script.pipelines.append([m for m in members if m is not None])
            return None
        elif kind in SUBSTITUTIONS:
            if not is_input_substitution(node):
                self.issue(node, f"uses {SUBSTITUTIONS[kind]}")
        elif kind == "function_definition":
            self.function(node)
            return None
        elif kind in CONTROL_FLOW:
            self.issue(node, "uses control flow (if/for/while/case), which is not analysed")
        elif kind in ("variable_assignment", "variable_assignments"):
            self.issue(node, "assigns a shell variable")
        elif kind in ("declaration_command", "unset_command"):
            self.issue(node, "declares, exports or unsets variables")
        elif kind == "test_command" and node.child_count and node.children[0].type == "[":
            return self.bracket_test(node, depth, parent)
        elif kind == "test_command":
            self.issue(node, "uses a [[ ]] test, whose arithmetic can run code")
        elif kind in REDIRECTS:
            self.redirect(node, depth, parent)
            return None
        elif kind in WORDISH:
            self.nested_any(node, depth, parent)
            return None
        elif kind not in STRUCTURAL and node.is_named:
            self.issue(node, f"uses shell syntax that is not analysed ({kind})")
        for child in node.children:
            if child.is_named or child.is_missing:
                self.walk(child, depth + 1, parent)
        return None

    def nested(self, node: Node, depth: int, owner: SimpleCommand) -> None:
        """Find substitutions and expansions inside a word and walk them."""
        if depth > MAX_TREE_DEPTH:
            self.issue(node, "nested too deeply to analyse")
            return
        for child in node.named_children:
            if child.type in SUBSTITUTIONS:
                self.walk(child, depth + 1, owner)
            elif child.type == "expansion" and var_name(child) is None:
                self.issue(child, "uses a parameter expansion with operators")
                self.nested(child, depth + 1, owner)
            elif child.type in ("ERROR", "ansi_c_string", "translated_string", "brace_expression"):
                self.walk(child, depth + 1, owner)
            else:
                self.nested(child, depth + 1, owner)
            if child.is_missing:
                self.issue(child, "could not be parsed as shell syntax")

    def command(self, node: Node, depth: int, parent: SimpleCommand | None) -> SimpleCommand:
        cmd = SimpleCommand(text_of(node), None, parent=parent, scoped=self.scope > 0)
        self.script.commands.append(cmd)
        for child in node.children:
            if child.is_missing:
                self.issue(child, "could not be parsed as shell syntax")
            if not child.is_named:
                continue
            if child.type == "variable_assignment":
                cmd.assignments.append(text_of(child))
                self.nested(child, depth + 1, cmd)
            elif child.type in REDIRECTS:
                cmd.args.extend(word_of(word) for word in self.redirect(child, depth + 1, cmd))
            elif child.type == "command_name":
                target = child.named_children[0] if child.named_child_count else child
                cmd.name = word_of(target)
                self.nested(child, depth + 1, cmd)
            elif child.type == "ERROR":
                self.walk(child, depth + 1, cmd)
            else:
                cmd.args.append(word_of(child))
                self.nested_word(child, depth + 1, cmd)
        return cmd

    def bracket_test(self, node: Node, depth: int, parent: SimpleCommand | None) -> SimpleCommand:
        """``[ ... ]`` is the ``[`` builtin: judge it as a command whose arguments are its tokens."""
        cmd = SimpleCommand(text_of(node), Word("[", "["), parent=parent)
        self.script.commands.append(cmd)
        pending = list(reversed(node.children[1:]))
        while pending:
            child = pending.pop()
            if child.type in ("unary_expression", "binary_expression", "parenthesized_expression"):
                pending.extend(reversed(child.children))
            elif child.type in WORDISH or child.type == "test_operator" or not child.is_named:
                cmd.args.append(Word(text_of(child), text_of(child)) if child.type == "test_operator"
                                or not child.is_named else word_of(child))
                self.nested_word(child, depth + 1, cmd)
            else:
                self.walk(child, depth + 1, cmd)
        return cmd

    def nested_word(self, node: Node, depth: int, owner: SimpleCommand) -> None:
        if node.type in SUBSTITUTIONS or node.type in ("ansi_c_string", "translated_string"):
            self.walk(node, depth, owner) if node.type in SUBSTITUTIONS else self.issue(
                node, "uses $'...' or $\"...\" quoting")
            return
        if node.type == "expansion" and var_name(node) is None:
            self.issue(node, "uses a parameter expansion with operators")
        self.nested(node, depth, owner)

    def redirected(self, node: Node, depth: int, parent: SimpleCommand | None) -> SimpleCommand | None:
        body = node.child_by_field_name("body")
        before = len(self.script.commands)
        cmd = self.walk(body, depth + 1, parent) if body is not None else None
        last = self.script.commands[-1] if len(self.script.commands) > before else None
        for child in node.named_children:
            if body is not None and child == body:
                continue
            extra = self.redirect(child, depth + 1, cmd or parent)
            if extra and last is not None:
                last.args.extend(word_of(word) for word in extra)
            if extra and (body is None or body.type != "command"):
                self.issue(child, "has words after a redirection of a compound command")
        return cmd

    def redirect(self, node: Node, depth: int, owner: SimpleCommand | None) -> list[Node]:
        """Record a redirection; return words bash gives the command rather than the redirect."""
        if node.type not in REDIRECTS:
            self.walk(node, depth, owner)
            return []
        if node.type == "heredoc_redirect":
            return self.heredoc(node, depth, owner)
        if node.type != "file_redirect":
            self.nested_any(node, depth, owner)
            return []
        op = next((text_of(c) for c in node.children if not c.is_named), "")
        named = [c for c in node.named_children if c.type != "file_descriptor"]
        target_node = node.child_by_field_name("destination") or (named[0] if named else None)
        extra = [c for c in named if c != target_node] if target_node is not None else []
        target = word_of(target_node) if target_node is not None else None
        if target_node is not None:
            self.nested_any(target_node, depth, owner)
        self.script.redirects.append(Redirect(text_of(node), op, target, len(self.script.commands)))
        return extra

    def heredoc(self, node: Node, depth: int, owner: SimpleCommand | None) -> list[Node]:
        """A here-document. The grammar puts the rest of its first line inside it: words (more
        arguments of the command), redirections, and a pipe or list operator with what follows.
        Words and redirections are judged as if written before the marker; anything else is
        walked (a command after it is still found) and keeps the whole command from being proven safe.
        """
        extra: list[Node] = []
        for child in node.children:
            kind = child.type
            if kind in ("<<", "<<-", "heredoc_start", "heredoc_end"):
                continue
            if kind == "heredoc_body":
                self.nested_any(child, depth + 1, owner)
            elif kind in REDIRECTS:
                extra += self.redirect(child, depth + 1, owner)
            elif kind in WORDISH:
                extra.append(child)
                self.nested_any(child, depth + 1, owner)
            else:
                self.issue(child, "goes on after a here-document's marker (a pipe, a list or another command)")
                if child.is_named:
                    self.walk(child, depth + 1, owner)
        return extra

    def nested_any(self, node: Node, depth: int, owner: SimpleCommand | None) -> None:
        if depth > MAX_TREE_DEPTH:
            self.issue(node, "nested too deeply to analyse")
            return
        if node.type in SUBSTITUTIONS:
            self.walk(node, depth + 1, owner)
            return
        if node.type in ("simple_expansion", "expansion"):
            self.script.expansions.append((text_of(node), var_name(node) or special_name(node)))
        for child in node.children:
            if child.is_named:
                self.nested_any(child, depth + 1, owner)

    def function(self, node: Node) -> None:
        name_node = node.child_by_field_name("name")
        name = text_of(name_node) if name_node is not None else ""
        self.issue(node, "defines a shell function")
        before = len(self.script.commands)
        body = node.child_by_field_name("body")
        if body is not None:
            self.walk(body, 1, None)
        calls = [c for c in self.script.commands[before:] if c.name is not None and c.name.value == name]
        if name and calls:
            self.issue(node, f"defines a function {name!r} that calls itself (fork bomb pattern)", deny=True)


def parse(source: str) -> Script:
    """Parse normalised bash source into a `Script` (never raises on bad syntax).

    The grammar's external scanner has crashed the process on rare non-ASCII input,
    so the parser sees a copy with every non-ASCII byte replaced by ``a``. Bash treats
    those bytes as ordinary word characters (look-alike whitespace is already gone),
    so the structure is the same, and byte offsets are unchanged, so every word's
    text is read back from the original.
    """
    raw = source.encode("utf-8", "surrogateescape")  # a lone \udcXX reaches bash as that byte
    token = SOURCE.set(raw)
    try:
        tree = _parser().parse(_NON_ASCII.sub(b"a", raw))
        walker = _Walker()
        walker.walk(tree.root_node, 0, None)
        if tree.root_node.has_error and not any("parsed" in i.reason for i in walker.script.issues):
            walker.issue(source, "could not be parsed as shell syntax")
    finally:
        SOURCE.reset(token)
    return walker.script
