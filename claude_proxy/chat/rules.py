"""Permission rules from "always" answers: which rule to remember, and saving it to settings.

The rule is chosen before the question is asked, so the prompt can show it. A call on
one file gets that file's rule (``Edit(./notes.md)``, not the guard's directory-wide
``Edit(./**)``) when the guard confirms the rule covers the call; otherwise the guard's
own suggestions (``Guard.suggest_rules``: command prefixes such as ``Bash(npm test:*)``,
directories, domains) are used, and without those the exact command for Bash, the tool
name otherwise.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from claude_proxy.permission_rules import path_specifier
from claude_proxy.tools.base import Tool, ToolContext

if TYPE_CHECKING:
    from claude_proxy.tools.base import ToolGuard

log = logging.getLogger(__name__)


def suggest_rules(guard: ToolGuard, tool: Tool, tool_input: dict[str, Any], context: ToolContext) -> list[str]:
    """The rules an "always" answer remembers so this call (every part of it) runs next time."""
    suggest = getattr(guard, "suggest_rules", None)
    if callable(suggest):
        rules = [r for r in suggest(tool, tool_input, context) if isinstance(r, str) and r]
        if rules:
            return rules
    if tool.name == "Bash" and isinstance(tool_input.get("command"), str):
        return [f"Bash({tool_input['command'].strip()})"]
    return [tool.name]


FILE_RULE_FAMILY = {"Write": "Edit", "Edit": "Edit", "MultiEdit": "Edit", "NotebookEdit": "Edit",
                    "Read": "Read", "NotebookRead": "Read"}
GLOB_CHARACTERS = frozenset("*?[]!\\")


def narrowest_rules(guard: ToolGuard, tool: Tool, tool_input: dict[str, Any], context: ToolContext) -> list[str]:
    """The rules to offer for "always": the file's own rule when it covers the call, else `suggest_rules`."""
    family = FILE_RULE_FAMILY.get(tool.name)
    raw = tool_input.get("notebook_path" if tool.name.startswith("Notebook") else "file_path")
    if family is not None and isinstance(raw, str) and raw:
        path = Path(raw).expanduser()
        real = Path(os.path.realpath(path if path.is_absolute() else context.cwd / path))
        spec = path_specifier(real, context.cwd)
        if spec != "./**" and not GLOB_CHARACTERS & set(spec):
            rule = f"{family}({spec})"
            if _covers(guard, rule, tool, tool_input, context):
                return [rule]
    return suggest_rules(guard, tool, tool_input, context)


def _covers(guard: ToolGuard, rule: str, tool: Tool, tool_input: dict[str, Any], context: ToolContext) -> bool:
    """Whether the guard would allow this call once ``rule`` is remembered (tried on a copy of the session)."""
    session = dataclasses.replace(context.session, session_allow=[*context.session.session_allow, rule])
    try:
        decision = guard.decide(tool, tool_input, dataclasses.replace(context, session=session))
    except (ValueError, OSError) as exc:
        log.debug("cannot try rule %s: %s", rule, exc)
        return False
    return decision.behavior == "allow"


def save_rule(rule: str, path: Path) -> None:
    """Append ``rule`` to ``permissions.allow`` in the YAML settings file at ``path``.

    The file is re-written by the YAML library, so its comments are not kept; the
    prompt that offers this says so. A file the user trusted stays trusted: the
    user made this change by answering the prompt.
    """
    from claude_proxy.trust import is_trusted, trust

    was_trusted = is_trusted(path)
    data: dict[str, Any] = {}
    if path.is_file():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            data = loaded
    permissions = data.setdefault("permissions", {}) or {}
    data["permissions"] = permissions
    allow = permissions.setdefault("allow", []) or []
    permissions["allow"] = allow
    if rule not in allow:
        allow.append(rule)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    if was_trusted:
        trust(path)
    log.info("saved permission rule %s to %s", rule, path)
