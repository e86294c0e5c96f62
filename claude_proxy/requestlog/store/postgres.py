"""`PostgresTraceStore`: the trace store read from the request log on PostgreSQL (``log.url``).

The same rows, in the same order, with the same figures as `SqliteTraceStore`: the SQL differs
(``seq`` for the rowid, ``strpos`` for ``instr``, a ``tsvector`` phrase query for FTS5) and
everything computed from rows (cost, session summaries, usage, snippets) is the same code
(``summary``). Bodies are rebuilt from the content rows by ``content``, byte for byte; a
session's content is fetched in one round trip, each piece decompressed once per store.
Every failure of the server is a `LogUnavailable` (a `LogQueryError`): one line, the URL's
password masked.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

from claude_proxy.pricing import DEFAULT, PriceTable
from claude_proxy.requestlog.query import (
    _IS_ERROR,
    DETAIL_FIELDS,
    SUMMARY_FIELDS,
    LogQueryError,
    LogUnavailable,
    _shape,
    _status_clause,
)
from claude_proxy.requestlog.store.content import ContentError, ContentReader, referenced, unpack
from claude_proxy.requestlog.store.pgschema import TABLE
from claude_proxy.requestlog.store.protocol import Filters, GroupBy
from claude_proxy.requestlog.store.summary import TOKENS, day_of, opening, row_cost, sessions_from, snippet, usage
from claude_proxy.secrets import mask_url, scrub_url_secrets

CONNECT_TIMEOUT = 5


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _select(fields: tuple[str, ...]) -> str:
    return ", ".join(("seq AS _rowid",) + fields)


def failure_line(exc: BaseException, url: str) -> str:
    """The first line of a driver error, with the URL's secrets (its password) kept out of it."""
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return scrub_url_secrets(text, url)


def connect(url: str, *, purpose: str) -> Any:
    """A psycopg connection in autocommit mode with a short connect timeout; one readable line on failure."""
    try:
        import psycopg
        from psycopg.rows import dict_row
    except ImportError:
        raise LogQueryError("the request log on Postgres needs psycopg: pip install 'claude-proxy[postgres]'") from None
    try:
        return psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT, autocommit=True, row_factory=dict_row,
                               application_name=f"claude-proxy {purpose}")
    except (psycopg.Error, ValueError) as exc:
        raise LogUnavailable(f"cannot open the request log at {mask_url(url)}: {failure_line(exc, url)}") from None


class PostgresTraceStore:
    """The `TraceStore` of a request log in a PostgreSQL database."""

    def __init__(self, url: str, prices: PriceTable = DEFAULT) -> None:
        self.url = url
        self.prices = prices
        self.conn = connect(url, purpose="logs")
        self._reader = ContentReader(self._load)
        try:
            present = self._all("SELECT to_regclass(%s) IS NOT NULL AS present", (TABLE,))[0]["present"]
        except LogQueryError:
            self.close()
            raise
        if not present:
            self.close()
            raise LogQueryError(f"no request log in the database at {mask_url(url)} "
                                "(start `claude-proxy serve` with log.url pointing at it first)")

    def close(self) -> None:
        self.conn.close()

    # --- the database ---------------------------------------------------------------------
    def _connection(self) -> Any:
        """The open connection; a new one when the server dropped the last (a follower outlives restarts)."""
        if self.conn.closed:
            self.conn = connect(self.url, purpose="logs")
        return self.conn

    def _cursor(self, sql: str, params: Any = ()) -> Iterator[dict[str, Any]]:
        import psycopg

        try:
            yield from self._connection().execute(sql, params)
        except psycopg.Error as exc:
            raise LogUnavailable(f"cannot read the request log at {mask_url(self.url)}: "
                                f"{failure_line(exc, self.url)}") from None

    def _stream(self, sql: str, params: Any = ()) -> Iterator[dict[str, Any]]:
        """Rows read a few thousand at a time (a server-side cursor), for reads that cover the whole log."""
        import psycopg

        try:
            conn = self._connection()
            with conn.transaction(), conn.cursor("claude_proxy_read") as cursor:
                cursor.itersize = 5000
                yield from cursor.execute(sql, params)
        except psycopg.Error as exc:
            raise LogUnavailable(f"cannot read the request log at {mask_url(self.url)}: "
                                f"{failure_line(exc, self.url)}") from None

    def _all(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return list(self._cursor(sql, params))

    # --- content --------------------------------------------------------------------------
    def _prefetch(self, rows: list[dict[str, Any]]) -> None:
        """Fetch, in one query, the content these rows need that this store has not read yet."""
        wanted: set[bytes] = set()
        for row in rows:
            wanted.update(referenced(row.get("request_recipe"), row.get("response_ref"))[0])
        wanted = self._reader.missing(wanted)
        if not wanted:
            return
        for found in self._cursor("SELECT name, data FROM content WHERE name = ANY(%s)", (list(wanted),)):
            try:
                self._reader.keep(found["name"], unpack(found["data"]))
            except ContentError:
                continue  # left out: fetching it again reports it on the row

    def _load(self, name: bytes) -> bytes | None:
        found = self._all("SELECT data FROM content WHERE name = %s", (name,))
        return bytes(found[0]["data"]) if found else None

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
        if filters.since is not None:
            clauses.append("started_at >= %s")
            values.append(filters.since)
        if filters.model:
            clauses.append("(strpos(lower(coalesce(requested_model, '')), %s) > 0"
                           " OR strpos(lower(coalesce(upstream_model, '')), %s) > 0)")
            values += [filters.model.lower(), filters.model.lower()]
        status, more = _status_clause(filters.status)
        if status:
            clauses.append(status.replace("?", "%s"))
            values += more
        if filters.until is not None:
            clauses.append("started_at < %s")
            values.append(filters.until)
        if filters.session:
            clauses.append("session_id = %s")
            values.append(filters.session)
        if filters.key:
            clauses.append("api_key ILIKE %s")
            values.append(f"%{filters.key[-4:]}")
        if extra:
            clauses.append(extra)
            values.extend(params)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", values

    def rows(self, filters: Filters, limit: int = 20) -> list[dict[str, Any]]:
        where, params = self._where(filters)
        sql = (f"SELECT {_select(SUMMARY_FIELDS)} FROM {TABLE}{where} "
               "ORDER BY started_at DESC, seq DESC LIMIT %s")
        return [self._finish(_shape(r)) for r in self._cursor(sql, params + [max(0, limit)])]

    def row(self, ident: str) -> dict[str, Any]:
        ident = ident.strip()
        if not ident:
            raise LogQueryError("give a request id")
        rows = self._all(f"SELECT {_select(DETAIL_FIELDS)} FROM {TABLE} WHERE id = %s OR id ILIKE %s LIMIT 3",
                         (ident, _like_prefix(ident)))
        exact = [r for r in rows if r["id"] == ident]
        if not exact and not rows:
            raise LogQueryError(f"no request with id {ident!r} in the log")
        if not exact and len(rows) > 1:
            raise LogQueryError(f"id prefix {ident!r} matches several requests; give more characters")
        found = _shape((exact or rows)[0])
        self._prefetch([found])
        return self._finish(self.bodies(found))

    def follow(self, filters: Filters) -> _SeqFollower:
        return _SeqFollower(self, filters)

    def rows_numbered(self, numbers: list[int], filters: Filters) -> list[dict[str, Any]]:
        """The rows with these ``seq`` numbers that match ``filters``, in number order."""
        where, params = self._where(filters, "seq = ANY(%s)", (numbers,))
        sql = f"SELECT {_select(SUMMARY_FIELDS)} FROM {TABLE}{where} ORDER BY seq"
        return [self._finish(_shape(r)) for r in self._cursor(sql, params)]

    def horizon(self) -> tuple[int, int, int]:
        """(newest visible ``seq``, oldest transaction still running, next transaction to start), at one instant."""
        found = self._all(f"SELECT (SELECT coalesce(max(seq), 0) FROM {TABLE}) AS top, "
                          "pg_snapshot_xmin(s)::text::bigint AS running, pg_snapshot_xmax(s)::text::bigint AS next "
                          "FROM pg_current_snapshot() AS s")[0]
        return int(found["top"]), int(found["running"]), int(found["next"])

    def numbers_present(self, after: int, upto: int, wanted: list[int]) -> set[int]:
        """Which ``seq`` numbers in (``after``, ``upto``], or among ``wanted``, have a visible row."""
        rows = self._all(f"SELECT seq FROM {TABLE} WHERE (seq > %s AND seq <= %s) OR seq = ANY(%s)",
                         (after, upto, wanted))
        return {int(r["seq"]) for r in rows}

    # --- sessions -------------------------------------------------------------------------
    def sessions(self, filters: Filters, limit: int = 20) -> list[dict[str, Any]]:
        where, params = self._where(filters, "session_id IS NOT NULL")
        recent = self._all(f"SELECT session_id, max(started_at) AS last FROM {TABLE}{where} GROUP BY session_id "
                           "ORDER BY last DESC, session_id COLLATE \"C\" LIMIT %s", params + [max(0, limit)])
        ids = [r["session_id"] for r in recent]
        if not ids:
            return []
        sums = ", ".join(f"sum({name})::bigint AS {name}" for name in TOKENS)
        groups = self._all(
            "SELECT session_id, coalesce(upstream_model, requested_model) COLLATE \"C\" AS model, "
            "count(*) AS requests, "
            f"min(started_at) AS first, max(started_at) AS last, count(*) FILTER (WHERE {_IS_ERROR}) AS errors, "
            "count(*) FILTER (WHERE thread_id = id) AS threads, "
            "count(*) FILTER (WHERE parent_id IS NOT NULL AND thread_id = id) AS subagents, "
            f"{sums}, min(seq) AS first_row FROM {TABLE} WHERE session_id = ANY(%s) GROUP BY session_id, model "
            "ORDER BY session_id COLLATE \"C\", model NULLS FIRST", (ids,))
        out = sessions_from(ids, groups, self.prices)
        openers = self._openers([item["first_row"] for item in out.values()])
        for item in out.values():
            found = openers.get(item.pop("first_row"))
            item.update(opening(self.bodies(found).get("request_body")) if found
                        else {"first_prompt": None, "cwd": None})
        return list(out.values())

    def _openers(self, seqs: list[int]) -> dict[int, dict[str, Any]]:
        """The rows that opened these sessions, by seq, their content fetched in one query."""
        fields = ("request_recipe", "request_digest", "response_ref", "request_body")
        rows = {r["_rowid"]: dict(r) for r in self._cursor(
            f"SELECT {_select(fields)} FROM {TABLE} WHERE seq = ANY(%s)", (seqs,))}
        self._prefetch(list(rows.values()))
        return rows

    def session(self, session_id: str, *, bodies: bool = False) -> list[dict[str, Any]]:
        ident = self._session_id(session_id)
        fields = DETAIL_FIELDS if bodies else SUMMARY_FIELDS + ("message",)
        shaped = [self._finish(_shape(r)) for r in self._cursor(
            f"SELECT {_select(fields)} FROM {TABLE} WHERE session_id = %s ORDER BY started_at, seq", (ident,))]
        if not bodies:
            return shaped
        self._prefetch(shaped)
        return [self.bodies(r) for r in shaped]

    def _session_id(self, prefix: str) -> str:
        prefix = prefix.strip()
        if not prefix:
            raise LogQueryError("give a session id")
        if self._all(f"SELECT 1 FROM {TABLE} WHERE session_id = %s LIMIT 1", (prefix,)):
            return prefix
        found = [r["session_id"] for r in self._all(
            f"SELECT DISTINCT session_id FROM {TABLE} WHERE session_id ILIKE %s LIMIT 2", (_like_prefix(prefix),))]
        if not found:
            raise LogQueryError(f"no session with id {prefix!r} in the log")
        if len(found) > 1:
            raise LogQueryError(f"session prefix {prefix!r} matches several sessions; give more characters")
        return str(found[0])

    # --- search ---------------------------------------------------------------------------
    def search(self, text: str, filters: Filters, limit: int = 20) -> list[dict[str, Any]]:
        if not text.strip():
            raise LogQueryError("give some text to search for")
        where, params = self._where(filters, "fts @@ phraseto_tsquery('simple', %s)", (text,))
        fields = SUMMARY_FIELDS + ("message", "request_recipe", "request_digest", "fts_from")
        sql = (f"SELECT {_select(fields)} FROM {TABLE}{where} "
               "ORDER BY started_at DESC, seq DESC LIMIT %s")
        rows = [_shape(r) for r in self._cursor(sql, params + [max(0, limit)])]
        self._prefetch(rows)
        for row in rows:
            body = self.bodies(dict(row)).get("request_body")
            row["match"] = snippet(body, row.get("fts_from"), row.get("message"), text)
            self._finish(row)
        return rows

    # --- usage ----------------------------------------------------------------------------
    def stats(self, filters: Filters, by: GroupBy = "model") -> dict[str, Any]:
        keys = {"model": "coalesce(upstream_model, requested_model, '(none)')",
                "day": "NULL",  # the client's local day, as on SQLite: computed from started_at below
                "session": "coalesce(session_id, '(none)')",
                "key": "coalesce(api_key, '(none)')"}
        where, params = self._where(filters)
        fields = ("started_at", "upstream_model", "requested_model", "duration_ms", "ttfb_ms") + TOKENS
        sql = f"SELECT {keys[by]} AS grp, {_IS_ERROR} AS is_error, {', '.join(fields)} FROM {TABLE}{where}"

        def rows() -> Iterator[dict[str, Any]]:
            for row in self._stream(sql, params):
                if by == "day":
                    row["grp"] = day_of(row["started_at"])
                yield row

        result = usage(rows(), by, self.prices)
        result["ratelimit"] = self._latest_limits(filters)
        return result

    def _latest_limits(self, filters: Filters) -> dict[str, Any] | None:
        """The newest rate-limit headers among the rows: how much headroom the key had last."""
        where, params = self._where(filters, "ratelimit IS NOT NULL")
        found = next(self._cursor(f"SELECT started_at, ratelimit FROM {TABLE}{where} "
                                  "ORDER BY started_at DESC LIMIT 1", params), None)
        if found is None:
            return None
        return {"started_at": found["started_at"], "headers": json.loads(found["ratelimit"])}


class _SeqFollower:
    """Following a Postgres log by ``seq``, including rows that land below one already seen.

    A writer's transaction takes its numbers when it inserts and its rows show when it commits;
    with several transactions at once (two insert threads, several instances) a lower number
    may show after a higher one. So the numbers missing below the newest seen are looked for
    again at each poll, until every transaction that was running when one was found missing
    has ended: a number still missing then was never committed (a batch rolled back, a retried
    row's duplicate) and is forgotten.
    """

    LOOK_BACK = 1_000  # numbers below the starting point that may still be in flight
    MAX_MISSING = 10_000  # a bound on what is remembered while a long transaction holds the horizon back

    def __init__(self, store: PostgresTraceStore, filters: Filters) -> None:
        self.store = store
        self.filters = filters
        self.newest, _, next_xid = store.horizon()
        self.missing: dict[int, int] = {}  # seq -> the first transaction id not yet started when it was missing
        present = store.numbers_present(max(0, self.newest - self.LOOK_BACK), self.newest, [])
        self._remember(range(max(1, self.newest - self.LOOK_BACK + 1), self.newest + 1), present, next_xid)

    def poll(self) -> list[dict[str, Any]]:
        top, running, next_xid = self.store.horizon()
        present = self.store.numbers_present(self.newest, top, list(self.missing))
        landed = sorted(n for n in present if n > self.newest or n in self.missing)
        for number in landed:
            self.missing.pop(number, None)
        # Still missing, and every transaction that could have held it had ended before `present`
        # was read: never committed.
        for number in [n for n, started_before in self.missing.items() if started_before <= running]:
            del self.missing[number]
        self._remember(range(self.newest + 1, top + 1), present, next_xid)
        self.newest = max(self.newest, top)
        return self.store.rows_numbered(landed, self.filters) if landed else []

    def _remember(self, numbers: range, present: set[int], next_xid: int) -> None:
        """Note which of ``numbers`` are missing; past the bound, the lowest are forgotten first."""
        for number in numbers[-self.MAX_MISSING:]:  # a jump in the sequence never walks millions of numbers
            if number not in present:
                self.missing[number] = next_xid
        if len(self.missing) > self.MAX_MISSING:
            for number in sorted(self.missing)[:len(self.missing) - self.MAX_MISSING]:
                del self.missing[number]
