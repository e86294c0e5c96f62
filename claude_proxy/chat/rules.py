"""Permission rules from "always" answers: which rule to remember, and saving it to settings.

The guard knows the rule syntax best, so its own suggestions (``Guard.suggest_rules``)
are used; without them the rule is as narrow as can be written: the exact command for
Bash, the tool name otherwise.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

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
