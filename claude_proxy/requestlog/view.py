"""How one request-log row looks in a terminal: a one-line summary, a readable exchange (tables: ``tables``).

Only the ``logs`` commands import this, and only when they run, since rich is
slow to import and ``claude-proxy --help`` should stay fast.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.rule import Rule
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from claude_proxy.requestlog.tables import limits_text


def local_time(started_at: float | None) -> str:
    """A row's start in local time, to the second."""
    if started_at is None:
        return "-"
    return datetime.fromtimestamp(started_at).strftime("%Y-%m-%d %H:%M:%S")


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.0f}ms"


def _num(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _model(entry: dict[str, Any]) -> str:
    requested, upstream = entry.get("requested_model"), entry.get("upstream_model")
    if requested and upstream and requested != upstream:
        return f"{requested} -> {upstream}"
    return requested or upstream or "-"


def _status(entry: dict[str, Any]) -> Text:
    status = entry.get("status")
    failed = status is None or status >= 400 or entry.get("error")
    return Text("-" if status is None else str(status), style="red" if failed else "green")


def tail_line(entry: dict[str, Any]) -> str:
    """One plain line per exchange, for ``logs tail``."""
    parts = [
        local_time(entry.get("started_at")), entry["id"], entry.get("method") or "-",
        entry.get("path") or "-", _model(entry),
        "-" if entry.get("status") is None else str(entry["status"]), _ms(entry.get("duration_ms")),
        f"in={_num(entry.get('input_tokens'))} out={_num(entry.get('output_tokens'))}",
    ]
    if entry.get("stop_reason"):
        parts.append(entry["stop_reason"])
    if entry.get("error"):
        parts.append(f"error: {entry['error']}")
    return "  ".join(parts)


CLIP = 400
RAW_CLIP = 4000


def _clip(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return f"{text[:limit]}... (+{len(text) - limit:,} chars)"


def _body(text: str | None, truncated: bool, size: int | None, limit: int | None = None) -> RenderableType:
    if text is None:
        return Text("(not kept: log.bodies is off)", style="dim")
    if not text:
        return Text("(empty)", style="dim")
    rendered: RenderableType
    try:
        pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        rendered = Syntax(_clip(pretty, limit), "json", word_wrap=True, theme="ansi_dark",
                          background_color="default")
    except ValueError:
        rendered = Text(_clip(text, limit))
    if truncated:
        note = f"(truncated: {len(text.encode()):,} of {size:,} bytes kept)" if size else "(truncated)"
        return Group(rendered, Text(note, style="yellow"))
    return rendered


def _content_lines(content: Any, limit: int | None) -> list[Text]:
    """One line per content block of a request message, long text clipped."""
    if isinstance(content, str):
        return [Text(_clip(content, limit))]
    lines = []
    for block in content if isinstance(content, list) else []:
        kind = block.get("type") if isinstance(block, dict) else type(block).__name__
        if kind == "text":
            lines.append(Text(_clip(block.get("text", ""), limit)))
        elif kind in ("tool_use", "server_tool_use"):
            args = json.dumps(block.get("input", {}), ensure_ascii=False)
            lines.append(Text(f"[{kind}] {block.get('name')} {_clip(args, limit)}", style="cyan"))
        elif kind == "tool_result":
            inner = block.get("content")
            if isinstance(inner, list):
                inner = " ".join(b.get("text", f"[{b.get('type')}]") for b in inner if isinstance(b, dict))
            flag = " error" if block.get("is_error") else ""
            lines.append(Text(f"[tool_result{flag} {block.get('tool_use_id')}] {_clip(str(inner or ''), limit)}",
                              style="cyan"))
        elif kind == "thinking":
            lines.append(Text(f"[thinking] {_clip(block.get('thinking', ''), limit)}", style="dim italic"))
        else:
            lines.append(Text(f"[{kind}]", style="magenta"))
    return lines


def conversation(body: dict[str, Any], limit: int | None = CLIP) -> RenderableType:
    """A Messages API request as a reader wants it: parameters, system, tool names, then the turns."""
    params = [f"{k} {json.dumps(body[k], ensure_ascii=False)}" for k in
              ("model", "max_tokens", "stream", "temperature", "tool_choice", "thinking") if k in body]
    parts: list[RenderableType] = [Text("  ".join(params), style="bold")]
    system = body.get("system")
    if isinstance(system, list):
        system = "\n".join(b.get("text", "") for b in system if isinstance(b, dict))
    if system:
        parts.append(Text("system: ", style="bold") + Text(_clip(str(system), limit)))
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        names = ", ".join(str(t.get("name", t.get("type"))) for t in tools if isinstance(t, dict))
        parts.append(Text(f"tools ({len(tools)}): ", style="bold") + Text(names))
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        lines = _content_lines(message.get("content"), limit)
        head = Text(f"{message.get('role')}: ", style="bold")
        if len(lines) == 1:
            parts.append(head + lines[0])
        else:
            parts.append(Group(head, *(Padding(line, (0, 0, 0, 2)) for line in lines)))
    return Group(*parts)


def _request(entry: dict[str, Any], raw: bool) -> RenderableType:
    text = entry.get("request_body")
    limit = None if raw else RAW_CLIP
    if not raw and text:
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("messages"), list):
            return conversation(body)
    return _body(text, bool(entry.get("request_truncated")), entry.get("request_bytes"), limit)


def _response(entry: dict[str, Any], raw: bool) -> RenderableType:
    text = entry.get("response_body")
    if entry.get("stream") and text and not raw:
        size = entry.get("response_bytes") or len(text)
        return Text(f"(raw event stream, {size:,} bytes: `logs show --raw` prints it)", style="dim")
    return _body(text, bool(entry.get("response_truncated")), entry.get("response_bytes"),
                 None if raw else RAW_CLIP)


def _headers(headers: Any) -> RenderableType:
    if not headers:
        return Text("(none)", style="dim")
    table = Table.grid(padding=(0, 2))
    for name, value in (headers.items() if isinstance(headers, dict) else []):
        table.add_row(Text(f"{name}:", style="bold"), Text(str(value)))
    return table


def _facts(rows: list[tuple[str, Any]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    for name, value in rows:
        if value not in (None, ""):
            grid.add_row(Text(name, style="bold"), value if isinstance(value, Text) else Text(str(value)))
    return grid


def answer(message: Any) -> RenderableType:
    """The assembled message, block by block: text as text, thinking dimmed, tool calls as JSON."""
    if not isinstance(message, dict):
        return Text("(no assembled message)", style="dim")
    parts: list[RenderableType] = []
    for block in message.get("content") or []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            text = block.get("text", "")
            parts.append(Text(text) if text else Text("(empty text)", style="dim"))
        elif kind == "thinking":
            parts.append(Text("[thinking] " + block.get("thinking", ""), style="dim italic"))
        elif kind == "redacted_thinking":
            parts.append(Text("[redacted thinking]", style="dim italic"))
        elif kind in ("tool_use", "server_tool_use"):
            head = Text(f"[{kind}] {block.get('name')} ({block.get('id')})", style="cyan")
            args = json.dumps(block.get("input", {}), indent=2, ensure_ascii=False)
            parts.append(Group(head, Padding(Text(args), (0, 0, 0, 2))))
        else:
            parts.append(Text(f"[{kind}] " + json.dumps(block, ensure_ascii=False)[:500], style="magenta"))
    return Group(*parts) if parts else Text("(empty content)", style="dim")


def _attempts(entry: dict[str, Any]) -> str | None:
    """``3: #1 529 (waited 480 ms), #2 529, #3 haiku 200``; None for a single try."""
    count = entry.get("attempts") or 1
    if count <= 1:
        return None
    tries = entry.get("attempt_log")
    if not isinstance(tries, list):
        return str(count)
    parts = []
    for a in tries:
        text = f"#{a.get('n')}{' ' + a['target'] if a.get('target') else ''} {a.get('status') or a.get('error')}"
        if a.get("wait_ms"):
            text += f" (waited {a['wait_ms']} ms)"
        parts.append(text)
    return f"{count}: " + ", ".join(parts)


def entry_view(entry: dict[str, Any], *, raw: bool = False) -> Group:
    """``logs show``: the conversation and the answer first, then the raw response and both headers.

    By default a Messages request reads as a conversation with long text clipped;
    ``raw`` prints both bodies whole, as logged.
    """
    usage = ", ".join(f"{label} {entry[key]:,}" for label, key in (
        ("input", "input_tokens"), ("output", "output_tokens"), ("cache read", "cache_read_tokens"),
        ("cache write", "cache_creation_tokens")) if entry.get(key) is not None)
    cost = entry.get("cost_usd")
    session = entry.get("session_id")
    if session and entry.get("thread_id") not in (None, session):
        session += f" (conversation {entry['thread_id']})"
    if entry.get("parent_id"):
        session = f"{session or '-'}, subagent of {entry['parent_id']}"
    summary = _facts([
        ("id", entry["id"]), ("time", f"{local_time(entry.get('started_at'))} ({entry.get('time')})"),
        ("session", session), ("key", entry.get("api_key")),
        ("request", f"{entry.get('method')} {entry.get('path')}"), ("model", _model(entry)),
        ("status", _status(entry)), ("stream", "yes" if entry.get("stream") else "no"),
        ("duration", _ms(entry.get("duration_ms"))), ("first byte", _ms(entry.get("ttfb_ms"))),
        ("usage", usage), ("cost", None if cost is None else f"${cost:.6f}"),
        ("stop reason", entry.get("stop_reason")), ("route", entry.get("route")),
        ("attempts", _attempts(entry)),
        ("error", Text(entry["error"], style="red") if entry.get("error") else None),
        ("rate limits", limits_text(entry.get("ratelimit"))),
        ("store", Text(entry["store_error"], style="red") if entry.get("store_error") else None),
    ])
    return Group(
        summary,
        Rule("request", align="left"),
        _request(entry, raw),
        Rule("answer", align="left"),
        answer(entry.get("message")),
        Rule("response body", align="left"),
        _response(entry, raw),
        Rule("request headers", align="left"),
        _headers(entry.get("request_headers")),
        Rule("response headers", align="left"),
        _headers(entry.get("response_headers")),
    )
