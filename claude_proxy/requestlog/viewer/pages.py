"""The viewer's pages, each built from a `TraceStore` and rendered to HTML by a Jinja template.

These functions block (the store reads SQLite or Postgres, Markdown renders on the
CPU), so the web handlers run them in a thread. They take the query as a plain
mapping and raise `PageNotFound` for an id the log does not have, `BadQuery` for
a filter that cannot be understood; the handlers turn those into 404 and 400.
"""

from __future__ import annotations

import json
import re
import time
from bisect import bisect_right
from datetime import datetime
from functools import lru_cache
from typing import Any, Mapping

from claude_proxy.requestlog.query import LogQueryError, LogUnavailable, parse_since
from claude_proxy.requestlog.sse import sse_events
from claude_proxy.requestlog.store.protocol import Filters, TraceStore
from claude_proxy.requestlog.viewer.charts import bars, meter
from claude_proxy.requestlog.viewer.markup import FILTERS, count, diff_lines, usd
from claude_proxy.requestlog.viewer.turndiff import diff_requests
from claude_proxy.requestlog.viewer.turns import build_threads, parse_json, system_text

PAGE_SIZE = 50


class PageNotFound(Exception):
    """The id in the address names nothing in the log."""


class BadQuery(Exception):
    """A filter in the address that cannot be understood (the message says which)."""


@lru_cache(maxsize=1)
def environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("claude_proxy.requestlog.viewer", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(FILTERS)
    env.globals["diff_lines"] = diff_lines
    return env


def render(template: str, **context: Any) -> str:
    return str(environment().get_template(template).render(**context))


def filters_from(query: Mapping[str, str], now: float | None = None) -> Filters:
    """The list filters in a page address: model, status, key, since, until."""
    now = time.time() if now is None else now
    try:
        since = parse_since(query["since"], now) if query.get("since") else None
        until = parse_since(query["until"], now) if query.get("until") else None
    except LogQueryError as exc:
        raise BadQuery(str(exc)) from None
    return Filters(model=query.get("model") or None, status=query.get("status") or None,
                   key=query.get("key") or None, since=since, until=until)


def _ask(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a store read; a query it rejects is the user's mistake (400), a missing id a 404.

    A database that cannot be read (`LogUnavailable`) goes up as it is: the viewer answers 503.
    """
    try:
        return call(*args, **kwargs)
    except LogUnavailable:
        raise
    except LogQueryError as exc:
        message = str(exc)
        if message.startswith("no ") or "matches several" in message:
            raise PageNotFound(message) from None
        raise BadQuery(message) from None


def sessions_page(store: TraceStore, query: Mapping[str, str], base: str) -> str:
    """The sessions list, or the rows matching a full-text search."""
    filters = filters_from(query)
    text = (query.get("q") or "").strip()
    limit = _limit(query)
    sessions = [] if text else _ask(store.sessions, filters, limit=limit)
    found = _ask(store.search, text, filters, limit=limit) if text else []
    return render("sessions.html", base=base, query=dict(query), sessions=sessions, found=found, text=text,
                  title="Sessions" if not text else f"Search: {text}")


def _limit(query: Mapping[str, str]) -> int:
    try:
        return max(1, min(int(query.get("limit") or PAGE_SIZE), 1000))
    except ValueError:
        raise BadQuery(f"limit {query.get('limit')!r} is not a number") from None


def session_context(store: TraceStore, session_id: str) -> dict[str, Any]:
    """Everything the session view and the HTML export show."""
    rows = _ask(store.session, session_id, bodies=True)
    if not rows:
        raise PageNotFound(f"no session {session_id!r} in the log")
    threads = build_threads(rows)
    main = threads[0]
    first_request = main.turns[0].request or {}
    totals: dict[str, Any] = {k: sum((r.get(k) or 0) for r in rows) for k in
                              ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")}
    costs = [r.get("cost_usd") for r in rows]
    totals["cost_usd"] = None if any(c is None and _used(r) for c, r in zip(costs, rows, strict=True)) else \
        sum(c or 0.0 for c in costs)
    models = sorted({str(r.get("upstream_model") or r.get("requested_model")) for r in rows
                     if r.get("upstream_model") or r.get("requested_model")})
    return {"session_id": rows[0].get("session_id") or session_id, "threads": threads, "rows": rows,
            "totals": totals, "models": models, "system": system_text(first_request.get("system")),
            "tools": [t.get("name") for t in first_request.get("tools") or [] if isinstance(t, dict)],
            "errors": sum(1 for r in rows if (r.get("status") or 0) >= 400 or r.get("error")),
            "started": rows[0].get("started_at"), "ended": rows[-1].get("started_at")}


def _used(row: Mapping[str, Any]) -> bool:
    return any(row.get(k) for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"))


def session_page(store: TraceStore, session_id: str, base: str) -> str:
    context = session_context(store, session_id)
    return render("session.html", base=base, title=f"Session {context['session_id'][:12]}", live=True, **context)


def session_version(store: TraceStore, session_id: str) -> dict[str, Any]:
    """How many rows a session has now (the page polls this to show new turns as they come)."""
    rows = _ask(store.session, session_id)
    return {"rows": len(rows), "last": rows[-1].get("id") if rows else None}


def _row(store: TraceStore, ident: str) -> dict[str, Any]:
    return dict(_ask(store.row, ident))


def _previous(store: TraceStore, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The row before this one in the same thread (None for a thread's first turn)."""
    session = row.get("session_id")
    if not session:
        return None
    rows = _ask(store.session, str(session))
    thread = row.get("thread_id") or row.get("id")
    before = None
    for other in rows:
        if other.get("id") == row.get("id"):
            break
        if (other.get("thread_id") or other.get("id")) == thread:
            before = other
    return _row(store, str(before["id"])) if before else None


def turn_page(store: TraceStore, ident: str, base: str) -> str:
    """One turn: its numbers, the new messages and the answer, the system prompt and tools folded."""
    row = _row(store, ident)
    threads = build_threads([row])
    request = parse_json(row.get("request_body")) or {}
    previous = _previous(store, row)
    return render("turn.html", base=base, title=f"Turn {row['id'][:12]}", row=row, turn=threads[0].turns[0],
                  system=system_text(request.get("system")) if isinstance(request, dict) else "",
                  tools=request.get("tools") if isinstance(request, dict) else None,
                  previous=previous)


def diff_page(store: TraceStore, ident: str, base: str) -> str:
    """What changed from the previous request of the thread, and where the cache prefix broke."""
    row = _row(store, ident)
    previous = _previous(store, row)
    after = parse_json(row.get("request_body"))
    before = parse_json(previous.get("request_body")) if previous else None
    diff = diff_requests(before, after) if isinstance(before, dict) and isinstance(after, dict) else None
    return render("diff.html", base=base, title=f"Diff {row['id'][:12]}", row=row, previous=previous, diff=diff)


def raw_page(store: TraceStore, ident: str, base: str) -> str:
    """The exchange as it went over the wire: masked headers, exact bodies, the stream's events in order."""
    row = _row(store, ident)
    body = row.get("response_body")
    events = timeline(body, row.get("chunk_times")) if row.get("stream") and isinstance(body, str) else []
    last = max((e["ms"] for e in events if e["ms"] is not None), default=0) or 1
    return render("raw.html", base=base, title=f"Raw {row['id'][:12]}", row=row, events=events, last_ms=last,
                  request_headers=_headers(row.get("request_headers")),
                  response_headers=_headers(row.get("response_headers")))


_BOUNDARY = re.compile(rb"\r?\n\r?\n")


def timeline(body: str, times: Any) -> list[dict[str, Any]]:
    """A stream's events in order, each with the milliseconds at which its first byte arrived (when known).

    ``times`` are the chunk arrivals the proxy noted ([byte offset, ms], ...); an event is
    stamped with the arrival of the chunk that carried its first byte.
    """
    data = body.encode("utf-8", "surrogatepass")
    marks = [(int(o), int(ms)) for o, ms in times] if isinstance(times, list) else []
    offsets = [o for o, _ in marks]
    events: list[dict[str, Any]] = []
    start = 0
    for match in [*_BOUNDARY.finditer(data), None]:
        end = match.start() if match else len(data)
        block = data[start:end]
        if block.strip():
            parsed = sse_events(block + b"\n\n")
            at = bisect_right(offsets, start) - 1
            ms = marks[at][1] if at >= 0 else None
            for name, payload in parsed:
                events.append({"n": len(events), "event": name, "data": payload, "ms": ms})
        if match is None:
            break
        start = match.end()
    return events


def _headers(value: Any) -> list[tuple[str, str]]:
    data = parse_json(value) if not isinstance(value, dict) else value
    return sorted((str(k), str(v)) for k, v in (data or {}).items()) if isinstance(data, dict) else []


def usage_context(store: TraceStore, query: Mapping[str, str]) -> dict[str, Any]:
    """Tokens and cost by day, model and session; cache hits over time; rate-limit headroom."""
    filters = filters_from(query)
    by_day = _ask(store.stats, filters, by="day")
    by_model = _ask(store.stats, filters, by="model")
    by_session = _ask(store.stats, filters, by="session")
    days = list(reversed(list(by_day["groups"].items())))[-31:]
    charts = [
        bars([(d, g["cost_usd"]) for d, g in days], title="Cost by day", fmt=usd),
        bars([(d, _tokens(g)) for d, g in days], title="Tokens by day", fmt=count),
        bars([(d, _hit(g) or 0.0) for d, g in days], title="Cache hit ratio by day",
             fmt=lambda v: f"{v * 100:.0f}%"),
        bars([(m, g["cost_usd"]) for m, g in list(by_model["groups"].items())[:12]], title="Cost by model", fmt=usd),
        bars([(s[:12], g["cost_usd"]) for s, g in sorted(by_session["groups"].items(),
                                                         key=lambda kv: -kv[1]["cost_usd"])[:12]],
             title="Cost by session (top 12)", fmt=usd),
    ]
    return {"totals": by_day, "charts": charts, "headroom": headroom(store, filters)}


def usage_page(store: TraceStore, query: Mapping[str, str], base: str) -> str:
    return render("usage.html", base=base, title="Usage", query=dict(query), **usage_context(store, query))


def _tokens(group: Mapping[str, Any]) -> float:
    return float(sum(group.get(k) or 0 for k in
                     ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")))


def _hit(group: Mapping[str, Any]) -> float | None:
    reads = group.get("cache_read_tokens") or 0
    fresh = (group.get("input_tokens") or 0) + (group.get("cache_creation_tokens") or 0)
    return reads / (reads + fresh) if reads + fresh else None


def headroom(store: TraceStore, filters: Filters) -> list[Any]:
    """Gauges from the newest rate-limit headers: each limit's share used, and unified utilisation."""
    latest = None
    for row in _ask(store.rows, filters, limit=200):
        if row.get("ratelimit"):
            latest = row
            break
    if latest is None:
        return []
    data = latest["ratelimit"]
    data = parse_json(data) if not isinstance(data, dict) else data
    if not isinstance(data, dict):
        return []
    gauges = []
    for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
        limit, remaining = _number(data.get(f"{kind}-limit")), _number(data.get(f"{kind}-remaining"))
        if limit:
            used = None if remaining is None else limit - remaining
            reset = data.get(f"{kind}-reset", "?")
            gauges.append(meter(kind.replace("-", " "), used, limit,
                                f"({count(remaining)} of {count(limit)} left; resets {reset})"))
    for key, value in sorted(data.items()):
        if key.startswith("unified-") and key.endswith("-utilization"):
            share = _number(value)
            window = key[len("unified-"):-len("-utilization")]
            gauges.append(meter(f"subscription {window}", share, 1.0, f"(status {data.get('unified-status', '?')})"))
    stamp = datetime.fromtimestamp(latest["started_at"]).strftime("%Y-%m-%d %H:%M:%S")
    return [stamp, gauges]


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def export_html(store: TraceStore, ident: str) -> str:
    """One self-contained page for a session (or the session of a row id): styles inline, no script."""
    try:
        context = session_context(store, ident)
    except PageNotFound:
        row = _row(store, ident)
        if not row.get("session_id"):
            raise PageNotFound(f"row {ident!r} belongs to no session") from None
        context = session_context(store, str(row["session_id"]))
    from importlib.resources import files

    css = (files("claude_proxy.requestlog.viewer") / "static" / "viewer.css").read_text()
    return render("session.html", base="", title=f"Session {context['session_id'][:12]}", live=False,
                  inline_css=css, export=True, **context)


def as_json(value: Any) -> str:
    return json.dumps(value, default=str)
