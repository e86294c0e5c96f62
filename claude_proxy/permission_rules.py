"""Permission rules in Claude Code's syntax: ``Tool`` or ``Tool(specifier)``.

One parser and one set of matchers, shared by the permission modes (`permissions`)
and the path validator (`paths`, which lets an allow rule unlock a secret file and a
deny rule close a path to every tool, the shell included).

Specifiers by tool:

- ``Bash(git status)`` matches that exact simple command; ``Bash(npm run test:*)``
  matches it and anything that starts with it followed by a space.
- ``Read(./src/**)``, ``Edit(docs/**)``: gitignore-style globs (``pathspec``) relative
  to the working directory; ``//abs/path`` is absolute, ``~/path`` is in the home
  directory, ``/path`` is anchored at the working directory. ``Read`` rules cover
  every tool that reads files (Read, LS, Glob, Grep, NotebookRead); ``Edit`` rules
  cover every tool that edits them (Edit, Write, MultiEdit, NotebookEdit).
- ``WebFetch(domain:example.com)``: that host and its subdomains.
- ``mcp__server`` matches every tool of that MCP server, ``mcp__server__tool`` one of them.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Literal, Protocol

import pathspec

log = logging.getLogger(__name__)

READ_TOOLS = frozenset({"Read", "LS", "Glob", "Grep", "NotebookRead"})
EDIT_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
PATH_TOOLS = READ_TOOLS | EDIT_TOOLS

_RULE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*(?:\((.*)\))?\s*$", re.S)


class RuleError(ValueError):
    """A permission rule that does not follow the ``Tool`` / ``Tool(specifier)`` syntax."""

    def __init__(self, message: str, hint: str = "is not 'Tool' or 'Tool(specifier)'") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Rule:
    """One parsed rule; ``specifier`` None means every use of the tool."""

    tool: str
    specifier: str | None
    text: str

    def __str__(self) -> str:
        return self.text


@lru_cache(maxsize=1024)
def parse_rule(text: str) -> Rule:
    """Parse ``Tool`` or ``Tool(specifier)``; raise `RuleError` with the reason."""
    if not isinstance(text, str):
        raise RuleError(f"rule must be a string, got {text!r}", "is not a string")
    match = _RULE.match(text)
    if not match:
        raise RuleError(f"rule {text!r} is not 'Tool' or 'Tool(specifier)'")
    tool, spec = match.group(1), match.group(2)
    if spec is not None:
        spec = spec.strip()
        if spec in ("", "*"):
            spec = None
    if spec is not None and "\x00" in spec:
        raise RuleError(f"rule {text!r} contains a NUL byte", "contains a NUL byte")
    if tool == "Bash" and spec is not None and ":*" in spec[:-2]:
        raise RuleError(f"rule {text!r}: ':*' may only end a Bash prefix rule", "uses ':*' before the end")
    if tool == "WebFetch" and spec is not None and not spec.startswith("domain:"):
        raise RuleError(f"rule {text!r}: WebFetch rules take 'domain:HOST'", "needs 'domain:HOST'")
    return Rule(tool, spec, text.strip())


def validate_rules(rules: Iterable[str]) -> list[str]:
    """Check every rule parses (used by the settings validator); return them unchanged."""
    rules = list(rules)
    for rule in rules:
        parse_rule(rule)
    return rules


def covers_tool(rule: Rule, tool_name: str) -> bool:
    """Whether a rule's tool part applies to ``tool_name`` (families and MCP servers included)."""
    if rule.tool == tool_name:
        return True
    if rule.tool == "Read" and tool_name in READ_TOOLS:
        return True
    if rule.tool == "Edit" and tool_name in EDIT_TOOLS:
        return True
    if rule.tool.startswith("mcp__") and rule.specifier is None:
        server = rule.tool[:-3] if rule.tool.endswith("__*") else rule.tool
        # server names hold no "__", so a longer rule names one tool and matched exactly above
        return "__" not in server[5:] and tool_name.startswith(server + "__")
    return False


def normalize_command(command: str) -> str:
    """Whitespace-collapsed command text, the form Bash rules are matched against."""
    return " ".join(command.split())


def match_bash(specifier: str, command: str) -> bool:
    """``git status`` is exact; ``npm run test:*`` is a prefix ending at a word boundary."""
    command = normalize_command(command)
    if specifier.endswith(":*"):
        prefix = normalize_command(specifier[:-2])
        return command == prefix or command.startswith(prefix + " ")
    return command == normalize_command(specifier)


def _anchor(specifier: str, cwd: Path) -> tuple[str, str]:
    """Split a path specifier into the directory it is relative to and a gitignore pattern."""
    if specifier.startswith("//"):
        return "/", "/" + specifier[2:].lstrip("/")
    if specifier == "~" or specifier.startswith("~/"):
        return os.path.expanduser("~"), "/" + specifier[2:] if len(specifier) > 2 else "/**"
    if specifier.startswith("./"):
        return str(cwd), "/" + specifier[2:]
    return str(cwd), specifier


@lru_cache(maxsize=512)
def _spec(pattern: str) -> pathspec.PathSpec:
    return pathspec.GitIgnoreSpec.from_lines([pattern])


@lru_cache(maxsize=512)
def _real(path: str) -> str:
    return os.path.realpath(path)


def match_path(specifier: str, path: Path, cwd: Path) -> bool:
    """Whether a resolved absolute ``path`` matches a gitignore-style path specifier."""
    base, pattern = _anchor(specifier, cwd)
    base_real = _real(base)
    try:
        rel = Path(path).relative_to(base_real)
    except ValueError:
        try:
            rel = Path(path).relative_to(base)
        except ValueError:
            return False
    rel_text = rel.as_posix()
    if rel_text in ("", "."):
        return pattern.rstrip("/") in ("", "/", "/**", "**")
    spec = _spec(pattern)
    return spec.match_file(rel_text) or (Path(path).is_dir() and spec.match_file(rel_text + "/"))


def match_domain(specifier: str, host: str) -> bool:
    """``domain:example.com`` matches example.com and its subdomains."""
    if not specifier.startswith("domain:"):
        return False
    domain = specifier[len("domain:"):].strip().lower().rstrip(".")
    if domain.startswith("*."):
        domain = domain[2:]
    host = host.lower().rstrip(".")
    return bool(domain) and (host == domain or host.endswith("." + domain))


def session_rules(texts: Iterable[str]) -> list[Rule]:
    """Parsed session rules; a malformed one (added around `Guard.remember`) is skipped and logged."""
    rules = []
    for text in texts:
        try:
            rules.append(parse_rule(text))
        except RuleError as exc:
            log.warning("ignoring session permission rule: %s", exc)
    return rules


class RuleLists(Protocol):
    """Rule texts by behaviour: the ``permissions:`` settings section."""

    allow: list[str]
    ask: list[str]
    deny: list[str]


def settings_rules(lists: RuleLists, kind: Literal["allow", "ask", "deny"]) -> list[Rule]:
    """The parsed ``permissions.<kind>`` rules."""
    texts = {"allow": lists.allow, "ask": lists.ask, "deny": lists.deny}[kind]
    return [parse_rule(text) for text in texts]


def path_specifier(path: Path, cwd: Path) -> str:
    """The specifier naming ``path`` in a rule: ``./rel`` under cwd, ``//abs`` elsewhere."""
    try:
        rel = Path(path).relative_to(_real(str(cwd)))
    except ValueError:
        return "/" + str(path)
    return "./" + rel.as_posix() if rel.parts else "./**"
