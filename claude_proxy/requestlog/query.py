"""Reading the request log: listing, finding, following and summarising rows.

The ``claude-proxy logs`` commands are thin wrappers over these functions. The
file is opened read-only, and any schema version is readable: columns a file
does not have yet come back as None.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from claude_proxy.requestlog.schema import TABLE, columns, connect

SUMMARY_FIELDS: tuple[str, ...] = (
    "id", "started_at", "method", "path", "requested_model", "upstream_model", "stream", "status",
    "duration_ms", "ttfb_ms", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_creation_tokens", "stop_reason", "error", "route", "attempts",
    "session_id", "thread_id", "parent_id", "api_key", "cache_creation_1h_tokens", "ratelimit",
)
DETAIL_FIELDS: tuple[str, ...] = SUMMARY_FIELDS + (
    "request_headers", "response_headers", "request_body", "response_body", "request_truncated",
    "response_truncated", "request_bytes", "response_bytes", "message", "attempt_log",
    "request_recipe", "request_digest", "response_ref", "chunk_times",
)
_JSON_FIELDS = ("request_headers", "response_headers", "message", "attempt_log", "ratelimit", "chunk_times")
_BOOL_FIELDS = ("stream", "request_truncated", "response_truncated")
_IS_ERROR = "(status IS NULL OR status >= 400 OR error IS NOT NULL)"


class LogQueryError(Exception):
    """A log that cannot be read, or a query that cannot be answered (one line for the user)."""


class LogUnavailable(LogQueryError):
    """The log's database could not be reached or read just now: the server's trouble, not the query's."""


def open_log(path: Path) -> sqlite3.Connection:
    """Open an existing request log read-only; a missing file or a foreign one is an error."""
    path = Path(path)
    if not path.is_file():
        raise LogQueryError(f"no request log at {path} (run `claude-proxy serve` first, or pass --log-db)")
    try:
        conn = connect(path, readonly=True)
        have = columns(conn)
    except sqlite3.Error as exc:
        raise LogQueryError(f"cannot read the request log {path}: {exc}") from None
    if "id" not in have:
        conn.close()
        raise LogQueryError(f"{path} is not a claude-proxy request log")
    conn.row_factory = sqlite3.Row
    return conn


def _select(conn: sqlite3.Connection, fields: tuple[str, ...]) -> str:
    have = columns(conn)
    return ", ".join(["rowid AS _rowid"] + [f if f in have else f"NULL AS {f}" for f in fields])


def _status_clause(status: str | None) -> tuple[str, list[Any]]:
    if not status:
        return "", []
    wanted = status.strip().lower()
    if wanted in ("error", "errors"):
        return _IS_ERROR, []
    if wanted == "ok":
        return f"NOT {_IS_ERROR}", []
    if re.fullmatch(r"\d{3}", wanted):
        return "status = ?", [int(wanted)]
    if re.fullmatch(r"[1-5]xx", wanted):
        low = int(wanted[0]) * 100
        return "status >= ? AND status < ?", [low, low + 100]
    raise LogQueryError(f"--status {status!r}: use a code (429), a class (5xx), ok or error")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: float) -> float:
    """``--since``: an age (``90s``, ``30m``, ``2h``, ``7d``, ``1w``) or an ISO date/time (local unless zoned)."""
    value = text.strip().lower()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", value)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise LogQueryError(f"--since {text!r}: use an age (30m, 2h, 7d) or a date (2026-01-31T09:00)") from None


def _where(model: str | None, status: str | None, extra: str = "",
           since: float | None = None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("started_at >= ?")
        params.append(since)
    if model:
        clauses.append("(instr(lower(coalesce(requested_model, '')), ?) > 0"
                       " OR instr(lower(coalesce(upstream_model, '')), ?) > 0)")
        params += [model.lower(), model.lower()]
    clause, more = _status_clause(status)
    if clause:
        clauses.append(clause)
        params += more
    if extra:
        clauses.append(extra)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def iso_time(started_at: float | None) -> str | None:
    """A row's start as an ISO 8601 UTC timestamp (milliseconds)."""
    if started_at is None:
        return None
    return datetime.fromtimestamp(started_at, timezone.utc).isoformat(timespec="milliseconds")


def _shape(row: sqlite3.Row | Mapping[str, Any]) -> dict[str, Any]:
    data = {k: row[k] for k in row.keys()}
    data["time"] = iso_time(data.get("started_at"))
    for name in _BOOL_FIELDS:
        if name in data and data[name] is not None:
            data[name] = bool(data[name])
    for name in _JSON_FIELDS:
        if isinstance(data.get(name), str):
            try:
                data[name] = json.loads(data[name])
            except ValueError:
                pass
    return data


_INTERNAL = ("request_recipe", "request_digest", "response_ref")


def public(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry without the internal row number and storage columns, in a stable key order, for --json output."""
    kept = tuple(k for k in DETAIL_FIELDS if k not in ("id",) + _INTERNAL)
    order = ("id", "time") + kept + ("cost_usd", "store_error")
    return {k: entry[k] for k in order if k in entry}


def list_entries(conn: sqlite3.Connection, *, limit: int = 20, model: str | None = None,
                 status: str | None = None, since: float | None = None) -> list[dict[str, Any]]:
    """The newest ``limit`` rows matching the filters, newest first."""
    where, params = _where(model, status, since=since)
    sql = f"SELECT {_select(conn, SUMMARY_FIELDS)} FROM {TABLE}{where} ORDER BY started_at DESC, rowid DESC LIMIT ?"
    return [_shape(r) for r in conn.execute(sql, params + [max(0, limit)])]


def last_rowid(conn: sqlite3.Connection) -> int:
    """The newest row number (0 for an empty log)."""
    return int(conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {TABLE}").fetchone()[0])


def get_entry(conn: sqlite3.Connection, ident: str) -> dict[str, Any]:
    """The full row whose id is ``ident`` or starts with it (when only one does)."""
    ident = ident.strip()
    if not ident:
        raise LogQueryError("give a request id")
    pattern = ident.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = conn.execute(
        f"SELECT {_select(conn, DETAIL_FIELDS)} FROM {TABLE} WHERE id = ? OR id LIKE ? ESCAPE '\\' LIMIT 3",
        (ident, pattern),
    ).fetchall()
    exact = [r for r in rows if r["id"] == ident]
    if exact:
        return _shape(exact[0])
    if not rows:
        raise LogQueryError(f"no request with id {ident!r} in the log")
    if len(rows) > 1:
        raise LogQueryError(f"id prefix {ident!r} matches several requests; give more characters")
    return _shape(rows[0])


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile: always a value that was observed (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _latency(values: list[float]) -> dict[str, float | None]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95)}


def stats(conn: sqlite3.Connection, *, model: str | None = None, since: float | None = None) -> dict[str, Any]:
    """Requests, errors, tokens and latency percentiles, overall and per model.

    Rows are grouped by the model that answered (the upstream model), falling
    back to the requested one, since that is what the tokens were spent on.
    """
    where, params = _where(model, None, since=since)
    have = columns(conn)

    def col(name: str) -> str:
        return name if name in have else "NULL"

    sql = (f"SELECT coalesce({col('upstream_model')}, {col('requested_model')}, '(none)') AS model, "
           f"{_IS_ERROR} AS is_error, {col('duration_ms')} AS duration_ms, {col('ttfb_ms')} AS ttfb_ms, "
           f"{col('input_tokens')} AS input_tokens, {col('output_tokens')} AS output_tokens, "
           f"{col('cache_read_tokens')} AS cache_read_tokens, "
           f"{col('cache_creation_tokens')} AS cache_creation_tokens FROM {TABLE}{where}")
    token_keys = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")
    models: dict[str, dict[str, Any]] = {}
    durations: dict[str, list[float]] = {}
    all_durations: list[float] = []
    all_ttfb: list[float] = []
    totals = dict.fromkeys(token_keys, 0)
    requests = errors = 0
    for row in conn.execute(sql, params):
        name = row["model"]
        bucket = models.setdefault(name, {"requests": 0, "errors": 0, **dict.fromkeys(token_keys, 0)})
        bucket["requests"] += 1
        bucket["errors"] += int(bool(row["is_error"]))
        requests += 1
        errors += int(bool(row["is_error"]))
        for key in token_keys:
            bucket[key] += row[key] or 0
            totals[key] += row[key] or 0
        if row["duration_ms"] is not None:
            durations.setdefault(name, []).append(row["duration_ms"])
            all_durations.append(row["duration_ms"])
        if row["ttfb_ms"] is not None:
            all_ttfb.append(row["ttfb_ms"])
    for name, bucket in models.items():
        bucket["latency_ms"] = _latency(durations.get(name, []))
    ordered = dict(sorted(models.items(), key=lambda kv: (-kv[1]["requests"], kv[0])))
    return {
        "requests": requests,
        "errors": errors,
        "tokens": totals,
        "latency_ms": _latency(all_durations),
        "ttfb_ms": _latency(all_ttfb),
        "models": ordered,
    }
