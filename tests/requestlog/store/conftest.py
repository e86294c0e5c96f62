"""Claude-Code-shaped exchanges for the trace-store tests: tools and system on every turn, a growing history."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from claude_proxy.requestlog.entry import LogEntry, new_entry_id
from claude_proxy.requestlog.store.sqlite import SqliteTraceStore
from tests.requestlog.conftest import KEY

TOOLS = [{"name": f"Tool{i}", "description": f"Tool number {i} does one careful thing. " * 8,
          "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}} for i in range(6)]
SYSTEM = [{"type": "text",
           "text": "You are a coding agent.\nWorking directory: /home/me/project\n" + "Be careful. " * 40,
           "cache_control": {"type": "ephemeral"}}]


def answer(*blocks: dict[str, Any], usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": f"msg_{new_entry_id()}", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": list(blocks), "stop_reason": "tool_use" if any(b["type"] == "tool_use" for b in blocks)
            else "end_turn", "stop_sequence": None,
            "usage": usage or {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100,
                               "cache_creation_input_tokens": 20}}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(name: str, tool_input: dict[str, Any], ident: str = "toolu_1") -> dict[str, Any]:
    return {"type": "tool_use", "id": ident, "name": name, "input": tool_input}


def with_cache_mark(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Claude Code's way: the newest message's last block carries cache_control, older ones do not."""
    marked = json.loads(json.dumps(messages))
    last = marked[-1]
    if isinstance(last["content"], str):
        last["content"] = [text(last["content"])]
    last["content"][-1]["cache_control"] = {"type": "ephemeral"}
    return marked


def exchange(messages: list[dict[str, Any]], reply: dict[str, Any], *, session: str | None = None,
             started_at: float | None = None, status: int = 200, **fields: Any) -> LogEntry:
    """One non-streamed /v1/messages exchange with these messages and this answer."""
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    if session:
        headers["x-claude-code-session-id"] = session
    body = {"model": "claude-sonnet-4-5", "max_tokens": 32000, "system": SYSTEM, "tools": TOOLS,
            "messages": with_cache_mark(messages), "metadata": {"user_id": "user_abc"}, "stream": False}
    return LogEntry(id=new_entry_id(), started_at=started_at or time.time(), method="POST",
                    path="/v1/messages?beta=true", duration_ms=100.0, ttfb_ms=10.0, status=status,
                    request_headers=headers, response_headers={"content-type": "application/json"},
                    request_body=json.dumps(body).encode(), response_body=json.dumps(reply).encode(), **fields)


def conversation(turns: int, *, session: str | None = None, opening: str = "Fix the failing test",
                 start: float = 1_780_000_000.0) -> list[LogEntry]:
    """``turns`` exchanges of one agent conversation: each request is the last plus its answer and a result."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": opening}]
    entries = []
    for turn in range(turns):
        tool_id = f"toolu_{new_entry_id()}"  # unique, as the API's are
        reply = answer(text(f"Reading file {turn}."), tool_use("Read", {"path": f"src/f{turn}.py"}, tool_id))
        entries.append(exchange(messages, reply, session=session, started_at=start + turn))
        messages = messages + [{"role": "assistant", "content": reply["content"]},
                               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id,
                                                             "content": f"line {turn}: def f{turn}(): pass"}]}]
    return entries


def stored_rows(db: Path, entries: list[LogEntry]) -> dict[str, dict[str, Any]]:
    """Each entry's row as the trace store reads it back from the file (bodies rebuilt)."""
    store = SqliteTraceStore(db)
    try:
        return {entry.id: store.row(entry.id) for entry in entries}
    finally:
        store.close()
