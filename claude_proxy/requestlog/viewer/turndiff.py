"""What changed from one request of a thread to the next, and where the prompt cache broke.

Anthropic caches a prompt by its prefix, in the order tools, system, messages. A turn
that only appends messages keeps the whole previous prefix; a change anywhere earlier
(a tool definition, a date in the system prompt, an edited old message) makes every
later byte a cache miss. The diff names that first change, so a person sees why a
turn paid full price, and shows what changed section by section.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from claude_proxy.requestlog.viewer.turns import system_text

MAX_DIFF_LINES = 400


@dataclass
class TurnDiff:
    """The difference between two request bodies of one thread."""

    cache_break: str  # a sentence: where the cached prefix stopped matching
    prefix_intact: bool
    tools_added: list[str] = field(default_factory=list)
    tools_removed: list[str] = field(default_factory=list)
    tools_changed: list[str] = field(default_factory=list)
    system_diff: list[str] = field(default_factory=list)
    messages_before: int = 0
    messages_after: int = 0
    first_changed_message: int | None = None
    message_diff: list[str] = field(default_factory=list)
    other_changes: list[str] = field(default_factory=list)


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return {}
    return {str(t.get("name")): t for t in tools if isinstance(t, dict)}


def _lines(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.splitlines()
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False).splitlines()


def _unified(before: Any, after: Any, a: str, b: str) -> list[str]:
    lines = list(difflib.unified_diff(_lines(before), _lines(after), a, b, lineterm="", n=2))
    if len(lines) > MAX_DIFF_LINES:
        lines = lines[:MAX_DIFF_LINES] + [f"... {len(lines) - MAX_DIFF_LINES} more lines"]
    return lines


def diff_requests(before: dict[str, Any], after: dict[str, Any]) -> TurnDiff:
    """Compare two request bodies (parsed JSON) of one thread, the earlier first."""
    old_tools, new_tools = _tools(before), _tools(after)
    result = TurnDiff(cache_break="", prefix_intact=True)
    result.tools_added = [n for n in new_tools if n not in old_tools]
    result.tools_removed = [n for n in old_tools if n not in new_tools]
    result.tools_changed = [n for n in new_tools if n in old_tools and new_tools[n] != old_tools[n]]
    tools_order_changed = ([n for n in new_tools if n in old_tools] != [n for n in old_tools if n in new_tools])
    old_system, new_system = system_text(before.get("system")), system_text(after.get("system"))
    if old_system != new_system:
        result.system_diff = _unified(old_system, new_system, "system (before)", "system (after)")
    old_messages = _list(before.get("messages"))
    new_messages = _list(after.get("messages"))
    result.messages_before, result.messages_after = len(old_messages), len(new_messages)
    for i, message in enumerate(old_messages):
        if i >= len(new_messages) or _bare(new_messages[i]) != _bare(message):
            result.first_changed_message = i
            if i < len(new_messages):
                result.message_diff = _unified(message, new_messages[i], f"messages[{i}] (before)",
                                               f"messages[{i}] (after)")
            break
    for key in sorted(set(before) | set(after)):
        if key not in ("tools", "system", "messages") and before.get(key) != after.get(key):
            result.other_changes.append(f"{key}: {json.dumps(before.get(key))} -> {json.dumps(after.get(key))}")
    if result.tools_added or result.tools_removed or result.tools_changed or tools_order_changed:
        result.prefix_intact = False
        result.cache_break = "the tool definitions changed, so nothing of the cached prefix was reused"
    elif result.system_diff:
        result.prefix_intact = False
        result.cache_break = "the system prompt changed: only the tool definitions could be read from the cache"
    elif result.first_changed_message is not None:
        result.prefix_intact = False
        result.cache_break = (f"message {result.first_changed_message} of the history changed: the cache could be "
                              f"reused up to it, not after")
    else:
        added = result.messages_after - result.messages_before
        result.cache_break = f"prefix intact: {added} message{'s' if added != 1 else ''} appended"
    if "model" in {c.split(":")[0] for c in result.other_changes}:
        result.prefix_intact = False
        result.cache_break = "the model changed: each model has its own cache"
    return result


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _bare(message: Any) -> Any:
    """A message without its cache_control marks, which move from turn to turn without changing the prefix."""
    if not isinstance(message, dict):
        return message
    content = message.get("content")
    if isinstance(content, list):
        content = [{k: v for k, v in b.items() if k != "cache_control"} if isinstance(b, dict) else b
                   for b in content]
    return {**message, "content": content}
