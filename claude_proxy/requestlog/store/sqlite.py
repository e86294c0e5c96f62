"""`SqliteTraceStore`: the trace store read from a SQLite log file (any schema version).

Rows written before the content store (schema 3 and older) keep their bodies in columns and
read back as they always did; newer rows are rebuilt from their recipe, each piece of content
decompressed once per store however many rows use it.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

from claude_proxy.pricing import DEFAULT, PriceTable
from claude_proxy.requestlog.query import (
    _IS_ERROR,
    DETAIL_FIELDS,
    SUMMARY_FIELDS,
    LogQueryError,
    _select,
    _shape,
    _where,
    get_entry,
    last_rowid,
    open_log,
    percentile,
)
from claude_proxy.requestlog.schema import TABLE, columns
from claude_proxy.requestlog.store.content import ContentError, rebuild, split, unpack
from claude_proxy.requestlog.store.protocol import Filters, GroupBy
from claude_proxy.requestlog.store.writing import index_text

_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "cache_creation_1h_tokens")
_WORKDIR = re.compile(r"Working directory: (\S+)")


def row_cost(row: dict[str, Any], prices: PriceTable) -> float | None:
    """What one row cost by ``prices`` (None when its model has no price or it used no tokens)."""
    if all(row.get(k) is None for k in _TOKENS):
        return None
    model = row.get("upstream_model") or row.get("requested_model") or row.get("model")
    return prices.cost(model, row.get("input_tokens"),
                       row.get("output_tokens"), row.get("cache_read_tokens"), row.get("cache_creation_tokens"),
                       row.get("cache_creation_1h_tokens"))


def _prompt(body: dict[str, Any]) -> str | None:
    """A conversation's first prompt: the last text of its first user message that is not a reminder."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not messages or not isinstance(messages[0], dict):
        return None
    content = messages[0].get("content")
    texts = [content] if isinstance(content, str) else [
        b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
    ] if isinstance(content, list) else []
    for text in reversed(texts):
        if isinstance(text, str) and text.strip() and not text.lstrip().startswith("<system-reminder>"):
            return " ".join(text.split())[:500]
    return None


def _workdir(system: Any) -> str | None:
    if isinstance(system, list):
        system = "\n".join(b.get("text", "") for b in system if isinstance(b, dict))
    found = _WORKDIR.search(system) if isinstance(system, str) else None
    return found.group(1) if found else None


class SqliteTraceStore:
    """The `TraceStore` of one SQLite log file, opened read-only."""

    def __init__(self, path: Path, prices: PriceTable = DEFAULT) -> None:
        self.path = Path(path)
        self.conn = open_log(self.path)
        self.prices = prices
        self.have = columns(self.conn)
        self._content: dict[bytes, bytes] = {}

    def close(self) -> None:
        self.conn.close()

    # --- content --------------------------------------------------------------------------
    def _fetch(self, name: bytes) -> bytes:
        known = self._content.get(name)
        if known is None:
            found = self.conn.execute("SELECT data FROM content WHERE name = ?", (name,)).fetchone()
            if found is None:
                raise ContentError("a row refers to content that is not in the log")
            known = unpack(found[0])
            if len(self._content) > 20_000:
                self._content.clear()
            self._content[name] = known
        return known

    def bodies(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` with ``request_body`` and ``response_body`` rebuilt from the content store."""
        try:
            if row.get("request_recipe") is not None:
                row["request_body"] = rebuild(row["request_recipe"], self._fetch, row.get("request_digest"))
            if row.get("response_ref") is not None:
                row["response_body"] = self._fetch(row["response_ref"]).decode("utf-8")
        except (ContentError, UnicodeDecodeError) as exc:
            row["store_error"] = str(exc)
        return row

    def _finish(self, row: dict[str, Any]) -> dict[str, Any]:
        row["cost_usd"] = row_cost(row, self.prices)
        return row

    # --- rows -----------------------------------------------------------------------------
    def _where(self, filters: Filters, extra: str = "", params: tuple[Any, ...] = ()) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        values: list[Any] = []
        if filters.until is not None:
            clauses.append("started_at < ?")
            values.append(filters.until)
        if filters.session and "session_id" in self.have:
            clauses.append("session_id = ?")
            values.append(filters.session)
        if filters.key and "api_key" in self.have:
            clauses.append("api_key LIKE ?")
            values.append(f"%{filters.key[-4:]}")
        if extra:
            clauses.append(extra)
            values.extend(params)
        where, base = _where(filters.model, filters.status, " AND ".join(clauses), since=filters.since)
        return where, base + values

    def rows(self, filters: Filters, limit: int = 20) -> list[dict[str, Any]]:
        where, params = self._where(filters)
        sql = (f"SELECT {_select(self.conn, SUMMARY_FIELDS)} FROM {TABLE}{where} "
               "ORDER BY started_at DESC, rowid DESC LIMIT ?")
        return [self._finish(_shape(r)) for r in self.conn.execute(sql, params + [max(0, limit)])]

    def row(self, ident: str) -> dict[str, Any]:
        return self._finish(self.bodies(get_entry(self.conn, ident)))

    def rows_after(self, rowid: int, upto: int, filters: Filters) -> list[dict[str, Any]]:
        where, params = self._where(filters, "rowid > ? AND rowid <= ?", (rowid, upto))
        sql = f"SELECT {_select(self.conn, SUMMARY_FIELDS)} FROM {TABLE}{where} ORDER BY rowid"
        return [self._finish(_shape(r)) for r in self.conn.execute(sql, params)]

    def last_rowid(self) -> int:
        return last_rowid(self.conn)

    # --- sessions -------------------------------------------------------------------------
    def sessions(self, filters: Filters, limit: int = 20) -> list[dict[str, Any]]:
        if "session_id" not in self.have:
            return []
        where, params = self._where(filters, "session_id IS NOT NULL")
        recent = self.conn.execute(
            f"SELECT session_id, max(started_at) AS last FROM {TABLE}{where} GROUP BY session_id "
            "ORDER BY last DESC LIMIT ?", params + [max(0, limit)]).fetchall()
        ids = [r[0] for r in recent]
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        groups = self.conn.execute(
            f"SELECT session_id, coalesce(upstream_model, requested_model) AS model, count(*) AS requests, "
            f"min(started_at) AS first, max(started_at) AS last, sum({_IS_ERROR}) AS errors, "
            "sum(thread_id = id) AS threads, sum(parent_id IS NOT NULL AND thread_id = id) AS subagents, "
            "sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, "
            "sum(cache_read_tokens) AS cache_read_tokens, sum(cache_creation_tokens) AS cache_creation_tokens, "
            "sum(cache_creation_1h_tokens) AS cache_creation_1h_tokens, min(rowid) AS first_row "
            f"FROM {TABLE} WHERE session_id IN ({marks}) GROUP BY session_id, model", ids).fetchall()
        out: dict[str, dict[str, Any]] = {i: {"session_id": i, "models": [], "requests": 0, "errors": 0,
                                               "threads": 0, "subagents": 0, "cost_usd": 0.0,
                                               **dict.fromkeys(_TOKENS, 0)} for i in ids}
        for g in groups:
            item = out[g["session_id"]]
            if g["model"]:
                item["models"].append(g["model"])
            for name in ("requests", "errors", "threads", "subagents") + _TOKENS:
                item[name] += g[name] or 0
            item["first"] = min(item.get("first", g["first"]), g["first"])
            item["last"] = max(item.get("last", g["last"]), g["last"])
            item["first_row"] = min(item.get("first_row", g["first_row"]), g["first_row"])
            cost = row_cost(dict(g), self.prices)
            if cost is None and any(g[k] for k in _TOKENS):
                item["cost_usd"] = None
            elif item["cost_usd"] is not None:
                item["cost_usd"] += cost or 0.0
        for item in out.values():
            reads, fresh = item["cache_read_tokens"], item["input_tokens"] + item["cache_creation_tokens"]
            item["cache_hit_ratio"] = round(reads / (reads + fresh), 4) if reads + fresh else None
            item.update(self._opening(item.pop("first_row")))
        return list(out.values())

    def _opening(self, rowid: int) -> dict[str, Any]:
        """The first prompt and working directory of the conversation that opened a session."""
        row = self.conn.execute(f"SELECT {_select(self.conn, DETAIL_FIELDS)} FROM {TABLE} WHERE rowid = ?",
                                (rowid,)).fetchone()
        if row is None:
            return {"first_prompt": None, "cwd": None}
        body = self.bodies(_shape(row)).get("request_body")
        parsed = split(body) if isinstance(body, str) else None
        first = {"messages": parsed.messages} if parsed else {}
        return {"first_prompt": _prompt(first), "cwd": _workdir(parsed.system) if parsed else None}

    def session(self, session_id: str, *, bodies: bool = False) -> list[dict[str, Any]]:
        if "session_id" not in self.have:
            raise LogQueryError(f"no session {session_id!r} in the log (it predates sessions)")
        ident = self._session_id(session_id)
        fields = DETAIL_FIELDS if bodies else SUMMARY_FIELDS + ("message",)
        rows = self.conn.execute(f"SELECT {_select(self.conn, fields)} FROM {TABLE} WHERE session_id = ? "
                                 "ORDER BY started_at, rowid", (ident,)).fetchall()
        shaped = [self._finish(_shape(r)) for r in rows]
        return [self.bodies(r) for r in shaped] if bodies else shaped

    def _session_id(self, prefix: str) -> str:
        prefix = prefix.strip()
        if not prefix:
            raise LogQueryError("give a session id")
        if self.conn.execute(f"SELECT 1 FROM {TABLE} WHERE session_id = ? LIMIT 1", (prefix,)).fetchone():
            return prefix
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        found = [r[0] for r in self.conn.execute(
            f"SELECT DISTINCT session_id FROM {TABLE} WHERE session_id LIKE ? ESCAPE '\\' LIMIT 2", (escaped,))]
        if not found:
            raise LogQueryError(f"no session with id {prefix!r} in the log")
        if len(found) > 1:
            raise LogQueryError(f"session prefix {prefix!r} matches several sessions; give more characters")
        return str(found[0])

    # --- search ---------------------------------------------------------------------------
    def search(self, text: str, filters: Filters, limit: int = 20) -> list[dict[str, Any]]:
        if not text.strip():
            raise LogQueryError("give some text to search for")
        if f"{TABLE}_fts" not in {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master")}:
            return []
        phrase = '"' + text.replace('"', '""') + '"'
        where, params = self._where(filters, f"rowid IN (SELECT rowid FROM {TABLE}_fts WHERE {TABLE}_fts MATCH ?)",
                                    (phrase,))
        fields = SUMMARY_FIELDS + ("message", "request_recipe", "request_digest", "fts_from")
        sql = (f"SELECT {_select(self.conn, fields)} FROM {TABLE}{where} "
               "ORDER BY started_at DESC, rowid DESC LIMIT ?")
        try:
            rows = [_shape(r) for r in self.conn.execute(sql, params + [max(0, limit)])]
        except sqlite3.OperationalError as exc:
            raise LogQueryError(f"cannot search for {text!r}: {exc}") from None
        for row in rows:
            row["match"] = self._snippet(row, text)
            self._finish(row)
        return rows

    def _snippet(self, row: dict[str, Any], text: str) -> str | None:
        body = self.bodies(dict(row)).get("request_body")
        messages = split(body).messages if isinstance(body, str) else []
        words = index_text(messages, row.get("fts_from") or 0, row.get("message"))
        at = words.lower().find(text.lower())
        if at < 0:
            return None
        start = max(0, at - 40)
        return " ".join(words[start:at + len(text) + 60].split())

    # --- usage ----------------------------------------------------------------------------
    def stats(self, filters: Filters, by: GroupBy = "model") -> dict[str, Any]:
        keys = {"model": "coalesce(upstream_model, requested_model, '(none)')",
                "day": "date(started_at, 'unixepoch', 'localtime')",
                "session": "coalesce(session_id, '(none)')" if "session_id" in self.have else "'(none)'",
                "key": "coalesce(api_key, '(none)')" if "api_key" in self.have else "'(none)'"}
        where, params = self._where(filters)
        fields = [f if f in self.have else f"NULL AS {f}" for f in
                  ("upstream_model", "requested_model", "duration_ms", "ttfb_ms") + _TOKENS]
        sql = f"SELECT {keys[by]} AS grp, {_IS_ERROR} AS is_error, {', '.join(fields)} FROM {TABLE}{where}"
        groups: dict[str, dict[str, Any]] = {}
        durations: dict[str, list[float]] = {}
        all_durations: list[float] = []
        ttfbs: list[float] = []
        totals: dict[str, Any] = {"requests": 0, "errors": 0, "cost_usd": 0.0, **dict.fromkeys(_TOKENS, 0)}
        for row in self.conn.execute(sql, params):
            data = dict(row)
            bucket = groups.setdefault(data["grp"], {"requests": 0, "errors": 0, "cost_usd": 0.0,
                                                     **dict.fromkeys(_TOKENS, 0)})
            cost = row_cost(data, self.prices)
            for target in (bucket, totals):
                target["requests"] += 1
                target["errors"] += int(bool(data["is_error"]))
                for key in _TOKENS:
                    target[key] += data[key] or 0
                target["cost_usd"] += cost or 0.0
                if cost is None and any(data[k] for k in _TOKENS):
                    target.setdefault("unpriced", 0)
                    target["unpriced"] += 1
            if data["duration_ms"] is not None:
                durations.setdefault(data["grp"], []).append(data["duration_ms"])
                all_durations.append(data["duration_ms"])
            if data["ttfb_ms"] is not None:
                ttfbs.append(data["ttfb_ms"])
        for name, bucket in groups.items():
            values = durations.get(name, [])
            bucket["latency_ms"] = {"p50": percentile(values, 50), "p95": percentile(values, 95)}
        order = (sorted(groups.items(), reverse=True) if by == "day"
                 else sorted(groups.items(), key=lambda kv: (-kv[1]["requests"], kv[0])))
        ordered = dict(order)
        result = {
            "requests": totals["requests"], "errors": totals["errors"],
            "tokens": {k: totals[k] for k in _TOKENS}, "cost_usd": totals["cost_usd"],
            "unpriced": totals.get("unpriced", 0),
            "latency_ms": {"p50": percentile(all_durations, 50), "p95": percentile(all_durations, 95)},
            "ttfb_ms": {"p50": percentile(ttfbs, 50), "p95": percentile(ttfbs, 95)},
            "by": by, "groups": ordered,
        }
        if by == "model":
            result["models"] = ordered
        result["ratelimit"] = self._latest_limits(filters)
        return result

    def _latest_limits(self, filters: Filters) -> dict[str, Any] | None:
        """The newest rate-limit headers among the rows: how much headroom the key had last."""
        if "ratelimit" not in self.have:
            return None
        where, params = self._where(filters, "ratelimit IS NOT NULL")
        found = self.conn.execute(f"SELECT started_at, ratelimit FROM {TABLE}{where} "
                                  "ORDER BY started_at DESC LIMIT 1", params).fetchone()
        if found is None:
            return None
        return {"started_at": found[0], "headers": json.loads(found[1])}

