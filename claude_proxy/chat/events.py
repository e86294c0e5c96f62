"""`chat -p`'s JSON output in Claude Code's headless event shapes, so scripts for `claude -p` parse ours.

``stream-json`` is one object per line: a ``system``/``init`` first, then an ``assistant``
object per model reply (the whole API message under ``message``), a ``user`` object per
batch of tool results, ``stream_event`` objects wrapping each raw API stream event when
partial messages were asked for, and last the ``result``. ``json`` prints only the
``result``. Field names follow the Agent SDK's message types (``SDKSystemMessage``,
``SDKAssistantMessage``, ``SDKUserMessage``, ``SDKPartialAssistantMessage``,
``SDKResultMessage``); every object carries ``session_id`` and a fresh ``uuid``.
"""

from __future__ import annotations

import uuid
from typing import Any

# result subtypes, as Claude Code names them
SUCCESS = "success"
ERROR_MAX_TURNS = "error_max_turns"
ERROR_DURING_EXECUTION = "error_during_execution"


def _base(kind: str, session_id: str) -> dict[str, Any]:
    return {"type": kind, "uuid": str(uuid.uuid4()), "session_id": session_id}


def system_init(session_id: str, *, model: str, cwd: str, tools: list[str], permission_mode: str,
                api_key_source: str, slash_commands: list[str]) -> dict[str, Any]:
    """The first line: what this run is (model, tools, mode), before anything is sent."""
    return {**_base("system", session_id), "subtype": "init", "cwd": cwd, "tools": tools, "mcp_servers": [],
            "model": model, "permissionMode": permission_mode, "apiKeySource": api_key_source,
            "slash_commands": slash_commands, "output_style": "default"}


def compact_boundary(session_id: str, trigger: str, pre_tokens: int) -> dict[str, Any]:
    """The history before this line was replaced by a summary (``trigger``: manual or auto)."""
    return {**_base("system", session_id), "subtype": "compact_boundary",
            "compact_metadata": {"trigger": trigger, "pre_tokens": pre_tokens}}


def assistant(session_id: str, message: dict[str, Any]) -> dict[str, Any]:
    """One complete model reply, as the Messages API returned it."""
    return {**_base("assistant", session_id), "message": message, "parent_tool_use_id": None}


def user(session_id: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    """The tool results sent back to the model (a user message in the API's terms)."""
    return {**_base("user", session_id), "message": {"role": "user", "content": content},
            "parent_tool_use_id": None}


def stream_event(session_id: str, event: dict[str, Any]) -> dict[str, Any]:
    """One raw API stream event (``--include-partial-messages``)."""
    return {**_base("stream_event", session_id), "event": event, "parent_tool_use_id": None}


def result(session_id: str, *, subtype: str, text: str, num_turns: int, duration_ms: int, duration_api_ms: int,
           usage: dict[str, int], total_cost_usd: float | None, stop_reason: str | None, model: str,
           permission_denials: list[dict[str, Any]], error: str | None) -> dict[str, Any]:
    """The last line (and the whole ``json`` output): how the run ended and what it cost.

    ``error`` and ``errors`` are set only when the run failed; ``model`` and
    ``stop_reason`` are ours, extra keys that Claude Code's parsers ignore.
    """
    payload: dict[str, Any] = {
        **_base("result", session_id), "subtype": subtype, "is_error": subtype != SUCCESS,
        "duration_ms": duration_ms, "duration_api_ms": duration_api_ms, "num_turns": num_turns,
        "result": text, "total_cost_usd": total_cost_usd, "usage": usage,
        "permission_denials": permission_denials, "stop_reason": stop_reason, "model": model,
    }
    if error is not None:
        payload["error"] = error
        payload["errors"] = [error]
    return payload
