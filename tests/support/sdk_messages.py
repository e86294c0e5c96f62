"""A parser for Claude Code's headless output, written from the Agent SDK's documented message types.

It knows nothing about claude-proxy: each line must be one of ``SDKSystemMessage``
(``system``/``init``), ``SDKAssistantMessage``, ``SDKUserMessage``,
``SDKPartialAssistantMessage`` (``stream_event``) or ``SDKResultMessage``, with the
documented fields and types. Unknown extra fields are allowed (the SDK's parsers ignore
them); a missing or mistyped one raises `SchemaError` naming it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

NUMBER = (int, float)
RESULT_SUBTYPES = {"success", "error_max_turns", "error_during_execution"}
PERMISSION_MODES = {"default", "acceptEdits", "bypassPermissions", "plan"}
USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


class SchemaError(AssertionError):
    """A line that does not follow the documented schema."""


@dataclass
class SDKMessage:
    type: str
    session_id: str
    raw: dict[str, Any]


def _need(obj: dict[str, Any], key: str, kinds: Any, where: str) -> Any:
    if key not in obj:
        raise SchemaError(f"{where}: missing {key!r}")
    if kinds is not None and not isinstance(obj[key], kinds):
        raise SchemaError(f"{where}: {key!r} is {type(obj[key]).__name__}, expected {kinds}")
    return obj[key]


def _api_message(message: Any, role: str, where: str) -> None:
    if not isinstance(message, dict):
        raise SchemaError(f"{where}: message is not an object")
    if _need(message, "role", str, where) != role:
        raise SchemaError(f"{where}: message.role is not {role!r}")
    content = _need(message, "content", (list, str), where)
    for block in content if isinstance(content, list) else []:
        _need(block, "type", str, f"{where} content block")
        if block["type"] == "tool_use":
            for key, kinds in (("id", str), ("name", str), ("input", dict)):
                _need(block, key, kinds, f"{where} tool_use")
        if block["type"] == "tool_result":
            _need(block, "tool_use_id", str, f"{where} tool_result")


def parse_line(line: str) -> SDKMessage:
    """One line of ``--output-format stream-json`` (or the whole ``json`` output)."""
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise SchemaError("not an object")
    kind = _need(obj, "type", str, "message")
    session_id = _need(obj, "session_id", str, kind)
    if kind == "system":
        if _need(obj, "subtype", str, kind) == "init":
            for key, kinds in (("cwd", str), ("tools", list), ("mcp_servers", list), ("model", str),
                               ("permissionMode", str), ("apiKeySource", str), ("slash_commands", list)):
                _need(obj, key, kinds, "system/init")
            if obj["permissionMode"] not in PERMISSION_MODES:
                raise SchemaError(f"system/init: permissionMode {obj['permissionMode']!r}")
    elif kind == "assistant":
        _api_message(_need(obj, "message", dict, kind), "assistant", kind)
        for key in ("id", "model", "stop_reason", "usage"):
            _need(obj["message"], key, None, "assistant message")
        _need(obj, "parent_tool_use_id", (str, type(None)), kind)
    elif kind == "user":
        _api_message(_need(obj, "message", dict, kind), "user", kind)
        _need(obj, "parent_tool_use_id", (str, type(None)), kind)
    elif kind == "stream_event":
        _need(_need(obj, "event", dict, kind), "type", str, "stream_event.event")
        _need(obj, "parent_tool_use_id", (str, type(None)), kind)
    elif kind == "result":
        subtype = _need(obj, "subtype", str, kind)
        if subtype not in RESULT_SUBTYPES:
            raise SchemaError(f"result: subtype {subtype!r}")
        is_error = _need(obj, "is_error", bool, kind)
        for key, kinds in (("duration_ms", NUMBER), ("duration_api_ms", NUMBER), ("num_turns", int),
                           ("usage", dict), ("permission_denials", list)):
            _need(obj, key, kinds, kind)
        _need(obj, "total_cost_usd", (*NUMBER, type(None)), kind)
        for key in USAGE_FIELDS:
            _need(obj["usage"], key, int, "result.usage")
        for denial in obj["permission_denials"]:
            for key, kinds in (("tool_name", str), ("tool_use_id", str), ("tool_input", dict)):
                _need(denial, key, kinds, "permission_denials[]")
        if subtype == "success":
            _need(obj, "result", str, kind)
            if is_error:
                raise SchemaError("result: success with is_error true")
    else:
        raise SchemaError(f"unknown message type {kind!r}")
    return SDKMessage(kind, session_id, obj)


def parse_stream(text: str) -> list[SDKMessage]:
    """Every line of a stream-json output; it must start with system/init and end with one result."""
    messages = [parse_line(line) for line in text.splitlines() if line.strip()]
    if not messages or messages[0].type != "system" or messages[0].raw.get("subtype") != "init":
        raise SchemaError("the stream does not start with system/init")
    if messages[-1].type != "result" or [m.type for m in messages].count("result") != 1:
        raise SchemaError("the stream does not end with exactly one result")
    if len({m.session_id for m in messages}) != 1:
        raise SchemaError("session_id changes within one run")
    return messages
