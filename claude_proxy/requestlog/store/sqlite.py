"""`SqliteTraceStore`: the trace store read from a SQLite log file (any schema version).

Rows written before the content store (schema 3 and older) keep their bodies in columns and
read back as they always did; newer rows are rebuilt from their recipe, each piece of content
decompressed once per store however many rows use it.
"""

from __future__ import annotations

import json
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
)
from claude_proxy.requestlog.schema import TABLE, columns
from claude_proxy.requestlog.store.content import ContentReader
from claude_proxy.requestlog.store.protocol import Filters, GroupBy
from claude_proxy.requestlog.store.summary import TOKENS, opening, row_cost, sessions_from, snippet, usage


class SqliteTraceStore:
    """The `TraceStore` of one SQLite log file, opened read-only."""

    def __init__(self, path: Path, prices: PriceTable = DEFAULT) -> None:
        self.path = Path(path)
        self.conn = open_log(self.path)
        self.prices = prices
        self.have = columns(self.conn)
        self._reader = ContentReader(self._load)

    def close(self) -> None:
        self.conn.close()

    # --- content --------------------------------------------------------------------------
    def _load(self, name: bytes) -> bytes | None:
        found = self.conn.execute("SELECT data FROM content WHERE name = ?", (name,)).fetchone()
        return None if found is None else found[0]

    def bodies(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` with ``request_body`` and ``response_body`` rebuilt from the content store."""
        return self._reader.bodies(row)

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

    def follow(self, filters: Filters) -> _RowidFollower:
        return _RowidFollower(self, filters)

    def rows_after(self, rowid: int, upto: int, filters: Filters) -> list[dict[str, Any]]:
        """Rows numbered in (``rowid``, ``upto``], oldest first."""
        where, params = self._where(filters, "rowid > ? AND rowid <= ?", (rowid, upto))
        sql = f"SELECT {_select(self.conn, SUMMARY_FIELDS)} FROM {TABLE}{where} ORDER BY rowid"
        return [self._finish(_shape(r)) for r in self.conn.execute(sql, params)]

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
        out = sessions_from(ids, [dict(g) for g in groups], self.prices)
        for item in out.values():
            item.update(self._opening(item.pop("first_row")))
        return list(out.values())

    def _opening(self, rowid: int) -> dict[str, Any]:
        """The first prompt and working directory of the conversation that opened a session."""
        row = self.conn.execute(f"SELECT {_select(self.conn, DETAIL_FIELDS)} FROM {TABLE} WHERE rowid = ?",
                                (rowid,)).fetchone()
        if row is None:
            return {"first_prompt": None, "cwd": None}
        return opening(self.bodies(_shape(row)).get("request_body"))

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
        return snippet(body, row.get("fts_from"), row.get("message"), text)

    # --- usage ----------------------------------------------------------------------------
    def stats(self, filters: Filters, by: GroupBy = "model") -> dict[str, Any]:
        keys = {"model": "coalesce(upstream_model, requested_model, '(none)')",
                "day": "date(started_at, 'unixepoch', 'localtime')",
                "session": "coalesce(session_id, '(none)')" if "session_id" in self.have else "'(none)'",
                "key": "coalesce(api_key, '(none)')" if "api_key" in self.have else "'(none)'"}
        where, params = self._where(filters)
        fields = [f if f in self.have else f"NULL AS {f}" for f in
                  ("upstream_model", "requested_model", "duration_ms", "ttfb_ms") + TOKENS]
        sql = f"SELECT {keys[by]} AS grp, {_IS_ERROR} AS is_error, {', '.join(fields)} FROM {TABLE}{where}"
        result = usage((dict(row) for row in self.conn.execute(sql, params)), by, self.prices)
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


class _RowidFollower:
    """Following a SQLite log by rowid: one transaction writes at a time, so rows land in rowid order.

    The newest rowid is read before the rows up to it, so a follower moves past rows its filters
    skip without missing one written meanwhile.
    """

    def __init__(self, store: SqliteTraceStore, filters: Filters) -> None:
        self.store = store
        self.filters = filters
        self.newest = last_rowid(store.conn)

    def poll(self) -> list[dict[str, Any]]:
        upto = last_rowid(self.store.conn)
        rows = self.store.rows_after(self.newest, upto, self.filters)
        self.newest = upto
        return rows
