"""A session's rows as a person reads them: turns of a conversation, threads for subagents.

Each logged request carries the whole history; what is *new* in a turn is what follows
the last assistant message of its request (the user's prompt, or the tool results of
the previous answer), and the turn's answer is the assembled response message. Tool
results are matched to the tool call that asked for them, so a call shows its result
where it was made. Rows of a session belong to threads (``thread_id``); a thread whose
first row names a ``parent_id`` is a subagent spawned by that row's answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

EDIT_TOOLS = {"Edit", "MultiEdit", "Write", "str_replace_based_edit_tool", "NotebookEdit"}


@dataclass
class Block:
    """One piece of a message as shown: ``kind`` picks its template part."""

    kind: str  # text | thinking | redacted | tool_use | tool_result | image | document | other
    text: str = ""
    name: str = ""
    ident: str = ""
    data: Any = None
    is_error: bool = False
    linked: bool = False  # a tool result shown under its call
    result: Block | None = None
    edits: list[tuple[str, str, str]] = field(default_factory=list)  # (path, before, after)
    subagents: list[str] = field(default_factory=list)  # thread ids started by this call


@dataclass
class Turn:
    """One request of a thread and its answer."""

    row: dict[str, Any]
    number: int
    inputs: list[tuple[str, list[Block]]]  # (role, blocks) new in this request
    answer: list[Block]
    request: dict[str, Any] | None
    previous: dict[str, Any] | None = None  # the row before it in the same thread

    @property
    def id(self) -> str:
        return str(self.row.get("id"))


@dataclass
class Thread:
    """A conversation inside a session: the main one, or a subagent's."""

    ident: str
    turns: list[Turn]
    parent_row: str | None = None

    @property
    def is_subagent(self) -> bool:
        return self.parent_row is not None


def parse_json(text: Any) -> Any:
    """A body as JSON, or None when it is not JSON (a truncated or non-JSON body)."""
    if isinstance(text, (dict, list)):
        return text
    if not isinstance(text, (str, bytes)) or not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _content(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    return value if isinstance(value, list) else []


def _result_text(content: Any) -> str:
    parts = []
    for item in _content(content):
        if isinstance(item, dict) and item.get("type") == "text":
            parts.append(str(item.get("text", "")))
        elif isinstance(item, dict):
            parts.append(f"[{item.get('type', 'content')}]")
    return "\n".join(parts)


def _edits(name: str, data: Any) -> list[tuple[str, str, str]]:
    """(path, before, after) for the file edits a tool call asks for."""
    if not isinstance(data, dict):
        return []
    path = str(data.get("file_path") or data.get("path") or data.get("notebook_path") or "")
    if name == "Write":
        return [(path, "", str(data.get("content", "")))]
    if name == "Edit":
        return [(path, str(data.get("old_string", "")), str(data.get("new_string", "")))]
    if name == "MultiEdit" and isinstance(data.get("edits"), list):
        return [(path, str(e.get("old_string", "")), str(e.get("new_string", "")))
                for e in data["edits"] if isinstance(e, dict)]
    if name == "str_replace_based_edit_tool":
        if data.get("command") == "create":
            return [(path, "", str(data.get("file_text", "")))]
        if data.get("command") == "str_replace":
            return [(path, str(data.get("old_str", "")), str(data.get("new_str", "")))]
    if name == "NotebookEdit":
        return [(path, "", str(data.get("new_source", "")))]
    return []


def blocks(content: Any) -> list[Block]:
    """A message's content as display blocks."""
    out: list[Block] = []
    for item in _content(content):
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "text":
            out.append(Block("text", text=str(item.get("text", ""))))
        elif kind == "thinking":
            out.append(Block("thinking", text=str(item.get("thinking", ""))))
        elif kind == "redacted_thinking":
            out.append(Block("redacted"))
        elif kind in ("tool_use", "server_tool_use"):
            name = str(item.get("name", ""))
            data = item.get("input")
            out.append(Block("tool_use", name=name, ident=str(item.get("id", "")), data=data,
                             edits=_edits(name, data)))
        elif kind == "tool_result" or (isinstance(kind, str) and kind.endswith("_tool_result")):
            out.append(Block("tool_result", ident=str(item.get("tool_use_id", "")),
                             text=_result_text(item.get("content")), is_error=bool(item.get("is_error"))))
        elif kind == "image":
            out.append(Block("image", text=str((item.get("source") or {}).get("media_type", "image"))))
        elif kind == "document":
            out.append(Block("document", text=str(item.get("title") or "document")))
        else:
            out.append(Block("other", text=str(kind), data=item))
    return out


def new_inputs(messages: list[Any]) -> list[tuple[str, list[Block]]]:
    """The messages after the last assistant message: what this turn added."""
    last = -1
    for i, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") == "assistant":
            last = i
    return [(str(m.get("role", "user")), blocks(m.get("content")))
            for m in messages[last + 1:] if isinstance(m, dict)]


def system_text(system: Any) -> str:
    """The system prompt as one text (blocks joined)."""
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n\n".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
    return ""


def build_threads(rows: list[dict[str, Any]]) -> list[Thread]:
    """A session's rows (oldest first, with bodies) as threads; the main thread first."""
    threads: dict[str, Thread] = {}
    order: list[str] = []
    for row in rows:
        ident = str(row.get("thread_id") or row.get("id"))
        thread = threads.get(ident)
        if thread is None:
            parent = row.get("parent_id")
            thread = threads[ident] = Thread(ident, [], str(parent) if parent else None)
            order.append(ident)
        request = parse_json(row.get("request_body"))
        messages = request.get("messages") if isinstance(request, dict) else None
        answer = row.get("message")
        answer = parse_json(answer) if not isinstance(answer, dict) else answer
        previous = thread.turns[-1].row if thread.turns else None
        thread.turns.append(Turn(row, len(thread.turns) + 1,
                                 new_inputs(messages) if isinstance(messages, list) else [],
                                 blocks(answer.get("content")) if isinstance(answer, dict) else [],
                                 request if isinstance(request, dict) else None, previous))
    _link(threads)
    ordered = [threads[i] for i in order]
    return sorted(ordered, key=lambda t: t.is_subagent)


def _link(threads: dict[str, Thread]) -> None:
    """Pair tool results with their calls, and subagent threads with the call that started them."""
    calls: dict[str, Block] = {}
    by_row: dict[str, list[Block]] = {}
    for thread in threads.values():
        for turn in thread.turns:
            for block in turn.answer:
                if block.kind == "tool_use":
                    calls[block.ident] = block
                    by_row.setdefault(turn.id, []).append(block)
    for thread in threads.values():
        for turn in thread.turns:
            for _, items in turn.inputs:
                for block in items:
                    if block.kind == "tool_result" and block.ident in calls:
                        calls[block.ident].result = block
                        block.linked = True
        if thread.parent_row:
            spawners = [b for b in by_row.get(thread.parent_row, []) if b.name in ("Task", "Agent")]
            target = next((b for b in spawners if not b.subagents), spawners[0] if spawners else None)
            if target is not None:
                target.subagents.append(thread.ident)
