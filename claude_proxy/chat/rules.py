"""Permission rules from "always" answers: which rule to remember, and saving it to settings.

The guard knows the rule syntax best, so its own suggestion is used when it offers one
(``suggest_rule`` on the guard or in ``claude_proxy.tools.guard``); otherwise the rule
is as narrow as can be written: the exact command for Bash, the tool name otherwise.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from claude_proxy.tools.base import Tool, ToolContext

log = logging.getLogger(__name__)


def suggest_rule(guard: Any, tool: Tool, tool_input: dict[str, Any], context: ToolContext) -> str:
    """The rule an "always" answer remembers for this call."""
    suggest = getattr(guard, "suggest_rule", None)
    if suggest is None:
        from claude_proxy.tools import guard as guard_module

        suggest = getattr(guard_module, "suggest_rule", None)
    if callable(suggest):
        try:
            rule = suggest(tool, tool_input, context)
        except TypeError:
            rule = suggest(tool, tool_input)
        if isinstance(rule, str) and rule:
            return rule
    if tool.name == "Bash" and isinstance(tool_input.get("command"), str):
        return f"Bash({tool_input['command']})"
    return tool.name


def save_rule(rule: str, path: Path) -> None:
    """Append ``rule`` to ``permissions.allow`` in the YAML settings file at ``path``.

    The file is re-written by the YAML library, so its comments are not kept; the
    prompt that offers this says so.
    """
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
    log.info("saved permission rule %s to %s", rule, path)
