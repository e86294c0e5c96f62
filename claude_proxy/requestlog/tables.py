"""The ``logs`` tables, fitted to the terminal: columns are dropped by priority, never squeezed to ``…``.

Each table lists its columns most important first; `fit` keeps as many as the width takes
at their natural size (an 80-column terminal and a pipe both get a readable table), then
shows them in reading order. Long values (models, prompts) are cut with an ellipsis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from rich.console import Group
from rich.table import Table
from rich.text import Text

GAP = 2
FLEX_MIN = 16


@dataclass(frozen=True)
class Column:
    """One column: its header, where it sits, how to show a row's value, its priority (lower: kept first)."""

    name: str
    order: int
    priority: int
    cell: Callable[[dict[str, Any]], str | Text]
    right: bool = False
    cap: int | None = None
    flex: bool = False  # when it does not fit whole, it takes what room is left (at least FLEX_MIN), cut


def _cut(value: str | Text, cap: int | None) -> str | Text:
    if cap is None or len(value) <= cap:
        return value
    if isinstance(value, Text):
        value.truncate(cap, overflow="ellipsis")
        return value
    return value[:cap - 1] + "…"


def fit(columns: list[Column], rows: list[dict[str, Any]], width: int) -> Table:
    """A table of ``rows`` with the most important columns that fit in ``width``."""
    cells = {c.name: [_cut(c.cell(r), c.cap) for r in rows] for c in columns}
    natural = {c.name: max([len(c.name)] + [len(v) for v in cells[c.name]]) for c in columns}
    chosen: list[Column] = []
    used = 0
    for column in sorted(columns, key=lambda c: c.priority):
        need = natural[column.name] + (GAP if chosen else 0)
        if used + need <= width or not chosen:
            chosen.append(column)
            used += need
        elif column.flex and width - used - GAP >= FLEX_MIN:
            room = width - used - GAP
            cells[column.name] = [_cut(value, room) for value in cells[column.name]]
            natural[column.name] = room
            chosen.append(column)
            used = width
    chosen.sort(key=lambda c: c.order)
    table = Table(show_edge=False, pad_edge=False, header_style="bold", box=None, padding=(0, GAP, 0, 0),
                  collapse_padding=True)
    for column in chosen:
        table.add_column(column.name, justify="right" if column.right else "left", no_wrap=True,
                         min_width=natural[column.name])
    for i in range(len(rows)):
        table.add_row(*(cells[c.name][i] for c in chosen))
    return table


def short_time(started_at: float | None) -> str:
    """``MM-DD HH:MM:SS`` in local time: the year rarely helps in a table."""
    return "-" if started_at is None else datetime.fromtimestamp(started_at).strftime("%m-%d %H:%M:%S")


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.0f}ms"


def num(value: int | None) -> str:
    if value is None:
        return "-"
    if value >= 10_000_000:
        return f"{value / 1_000_000:.0f}M"
    if value >= 100_000:
        return f"{value / 1000:.0f}k"
    return f"{value:,}"


def money(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def model_of(entry: dict[str, Any]) -> str:
    requested, upstream = entry.get("requested_model"), entry.get("upstream_model")
    if requested and upstream and requested != upstream:
        return f"{requested} -> {upstream}"
    return requested or upstream or "-"


def status_of(entry: dict[str, Any]) -> Text:
    status = entry.get("status")
    failed = status is None or status >= 400 or entry.get("error")
    return Text("-" if status is None else str(status), style="red" if failed else "green")


def _cache(entry: dict[str, Any]) -> str:
    read, write = entry.get("cache_read_tokens"), entry.get("cache_creation_tokens")
    return "-" if read is None and write is None else f"{num(read)}/{num(write)}"


def _stop(entry: dict[str, Any]) -> str:
    return entry.get("stop_reason") or ("error" if entry.get("error") else "-")


ENTRY_COLUMNS = [
    Column("id", 0, 0, lambda e: e["id"]),
    Column("time", 1, 1, lambda e: short_time(e.get("started_at"))),
    Column("method", 2, 13, lambda e: e.get("method") or "-"),
    Column("path", 3, 11, lambda e: e.get("path") or "-", cap=40),
    Column("model", 4, 3, model_of, cap=56),
    Column("status", 5, 2, status_of, right=True),
    Column("stream", 6, 14, lambda e: "yes" if e.get("stream") else "no"),
    Column("duration", 7, 7, lambda e: ms(e.get("duration_ms")), right=True),
    Column("ttfb", 8, 10, lambda e: ms(e.get("ttfb_ms")), right=True),
    Column("in", 9, 5, lambda e: num(e.get("input_tokens")), right=True),
    Column("out", 10, 4, lambda e: num(e.get("output_tokens")), right=True),
    Column("cache r/w", 11, 9, _cache, right=True),
    Column("cost", 12, 6, lambda e: money(e.get("cost_usd")), right=True),
    Column("stop", 13, 8, _stop),
    Column("session", 14, 12, lambda e: e.get("session_id") or "-", cap=12),
]


def entries_table(entries: Iterable[dict[str, Any]], width: int = 200) -> Table:
    """The ``logs list`` table."""
    return fit(ENTRY_COLUMNS, list(entries), width)


SESSION_COLUMNS = [
    Column("session", 0, 0, lambda s: s["session_id"], cap=14),
    Column("started", 1, 1, lambda s: short_time(s.get("first"))),
    Column("last", 2, 10, lambda s: short_time(s.get("last"))),
    Column("turns", 3, 2, lambda s: num(s.get("requests")), right=True),
    Column("agents", 4, 11, lambda s: num(s.get("subagents")), right=True),
    Column("models", 5, 8, lambda s: ", ".join(s.get("models") or []) or "-", cap=30),
    Column("tokens", 6, 6, lambda s: num(sum(s.get(k) or 0 for k in (
        "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"))), right=True),
    Column("cache hit", 7, 7, lambda s: "-" if s.get("cache_hit_ratio") is None
           else f"{s['cache_hit_ratio']:.0%}", right=True),
    Column("cost", 8, 3, lambda s: money(s.get("cost_usd")), right=True),
    Column("errors", 9, 4, lambda s: Text(num(s.get("errors")), style="red" if s.get("errors") else ""),
           right=True),
    Column("cwd", 10, 9, lambda s: s.get("cwd") or "-", cap=30),
    Column("first prompt", 11, 5, lambda s: s.get("first_prompt") or "-", cap=60, flex=True),
]


def sessions_table(sessions: list[dict[str, Any]], width: int = 200) -> Table:
    """The ``logs sessions`` table."""
    return fit(SESSION_COLUMNS, sessions, width)


SEARCH_COLUMNS = [
    Column("id", 0, 0, lambda e: e["id"]),
    Column("time", 1, 2, lambda e: short_time(e.get("started_at"))),
    Column("session", 2, 3, lambda e: e.get("session_id") or "-", cap=12),
    Column("model", 3, 4, model_of, cap=30),
    Column("match", 4, 1, lambda e: e.get("match") or "-", cap=90, flex=True),
]


def search_table(rows: list[dict[str, Any]], width: int = 200) -> Table:
    """The ``logs search`` table: where each match is, and the words around it."""
    return fit(SEARCH_COLUMNS, rows, width)


def _group_columns(by: str) -> list[Column]:
    return [
        Column(by, 0, 0, lambda g: g["name"], cap=40),
        Column("requests", 1, 1, lambda g: num(g["requests"]), right=True),
        Column("errors", 2, 3, lambda g: num(g["errors"]), right=True),
        Column("input", 3, 4, lambda g: num(g["input_tokens"]), right=True),
        Column("output", 4, 5, lambda g: num(g["output_tokens"]), right=True),
        Column("cache read", 5, 7, lambda g: num(g["cache_read_tokens"]), right=True),
        Column("cache write", 6, 8, lambda g: num(g["cache_creation_tokens"]), right=True),
        Column("cost", 7, 2, lambda g: money(g["cost_usd"]), right=True),
        Column("p50", 8, 6, lambda g: ms(g["latency_ms"]["p50"]), right=True),
        Column("p95", 9, 9, lambda g: ms(g["latency_ms"]["p95"]), right=True),
    ]


def limits_text(limits: Any) -> str | None:
    """``requests 49/50, tokens 39k/40k, unified-5h-utilization 0.42``: what was left when this answer came."""
    if not isinstance(limits, dict) or not limits:
        return None
    parts = []
    for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
        if f"{kind}-remaining" in limits:
            parts.append(f"{kind} {limits[f'{kind}-remaining']}/{limits.get(f'{kind}-limit', '?')}")
    parts += [f"{k} {v}" for k, v in sorted(limits.items()) if k.startswith("unified-") or k == "retry-after"]
    return ", ".join(parts) or None


def stats_view(data: dict[str, Any], width: int = 200) -> Group:
    """``logs stats``: totals, then one row per model, day, session or key."""
    lat, ttfb = data["latency_ms"], data["ttfb_ms"]
    unpriced = f" ({data['unpriced']:,} rows without a price)" if data.get("unpriced") else ""
    head = Text(
        f"requests {data['requests']:,}   errors {data['errors']:,}   cost {money(data.get('cost_usd'))}{unpriced}\n"
        f"latency p50 {ms(lat['p50'])} p95 {ms(lat['p95'])}   first byte p50 {ms(ttfb['p50'])} p95 {ms(ttfb['p95'])}"
    )
    limits = data.get("ratelimit") or {}
    if limits_text(limits.get("headers")):
        head.append(f"\nrate limits at {short_time(limits.get('started_at'))}: {limits_text(limits['headers'])}")
    by = data.get("by", "model")
    rows = [{"name": name, **values} for name, values in data["groups"].items()]
    return Group(head, Text(""), fit(_group_columns(by), rows, width))
