"""Retention for the trace store on PostgreSQL: old rows out in batches, unreferenced content collected.

Every step is one short statement or transaction (`ROWS_PER_STEP` rows, `CONTENT_PER_STEP`
pieces of content), so the instances writing the same database never wait long. Content is
collected by marking, as on SQLite: the names the remaining rows refer to are read without
a lock; then each deleting transaction takes ``store_meta`` exclusively, which waits for the
writers' transactions in flight (each reads the store's generation first) and holds new ones
back for milliseconds. Inside it, the rows written since are added to the marks, the
generation is bumped (so a writer forgets which content it believed stored) and a chunk of
dead content goes.

Size on Postgres is the bytes of the rows the log holds (the stored size of every column of
its tables), not the files: PostgreSQL keeps deleted rows' space for reuse (plain ``VACUUM``
marks it free without an exclusive lock), so the files hardly shrink, and a limit on them
would never be met. ``freed_bytes`` is what the files did shrink by after that ``VACUUM``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from claude_proxy.requestlog.query import LogQueryError
from claude_proxy.requestlog.store.content import referenced
from claude_proxy.requestlog.store.pgschema import TABLE, PgSchemaError, migrate
from claude_proxy.requestlog.store.postgres import connect, failure_line
from claude_proxy.requestlog.store.protocol import PruneResult
from claude_proxy.secrets import mask_url

logger = logging.getLogger(__name__)

ROWS_PER_STEP = 1000
CONTENT_PER_STEP = 1000
LOCK_TIMEOUT_MS = 10_000
TABLES = (TABLE, "content", "spawns")


class PostgresRetention:
    """`TraceMaintenance` for the request log in a PostgreSQL database."""

    def __init__(self, url: str) -> None:
        import psycopg
        from psycopg.rows import dict_row, tuple_row

        self.url = url
        self.conn = connect(url, purpose="prune")
        try:
            if not self.conn.execute("SELECT to_regclass(%s) IS NOT NULL AS present", (TABLE,)).fetchone()["present"]:
                raise LogQueryError(f"no request log in the database at {mask_url(url)}")
            self.conn.row_factory = tuple_row
            migrate(self.conn)  # an older schema is brought up to date first, as the writer would
            self.conn.row_factory = dict_row
            self.conn.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
            self._sizes = {t: self._size_expression(t) for t in TABLES}
        except LogQueryError:
            self.close()
            raise
        except (psycopg.Error, PgSchemaError) as exc:
            self.close()
            raise LogQueryError(f"cannot prune the request log at {mask_url(url)}: {failure_line(exc, url)}") from None

    def close(self) -> None:
        self.conn.close()

    def _size_expression(self, table: str) -> str:
        """The stored bytes of one row of ``table``: every column as kept (compressed or out of line)."""
        found = self.conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                                  "AND table_schema = current_schema() ORDER BY ordinal_position", (table,))
        return " + ".join(f'coalesce(pg_column_size("{r["column_name"]}"), 0)' for r in found) or "0"

    def used_bytes(self) -> int:
        """The bytes of the rows the log holds, in every table."""
        total = 0
        for table, size in self._sizes.items():
            total += int(self.conn.execute(f"SELECT coalesce(sum({size}), 0)::bigint AS n FROM {table}")
                         .fetchone()["n"])
        return total

    def _file_bytes(self) -> int:
        sizes = " + ".join(f"pg_total_relation_size('{t}')" for t in TABLES)
        return int(self.conn.execute(f"SELECT ({sizes})::bigint AS n").fetchone()["n"])

    def _delete_rows(self, where: str, params: tuple[Any, ...]) -> int:
        """Delete the rows matching ``where``, oldest first, `ROWS_PER_STEP` per statement; return how many."""
        total = 0
        while True:
            deleted = self.conn.execute(
                f"DELETE FROM {TABLE} WHERE seq IN (SELECT seq FROM {TABLE} WHERE {where} "
                "ORDER BY started_at, seq LIMIT %s)", params + (ROWS_PER_STEP,)).rowcount
            total += deleted
            if deleted < ROWS_PER_STEP:
                return total

    def _marks(self, after: int, upto: int | None = None) -> tuple[set[bytes], int]:
        """Every content name rows with ``after < seq (<= upto)`` refer to, and the newest seq read."""
        live: set[bytes] = set()
        newest = after
        sql = f"SELECT seq, request_recipe, response_ref FROM {TABLE} WHERE seq > %s"
        params: tuple[Any, ...] = (after,)
        if upto is not None:
            sql += " AND seq <= %s"
            params += (upto,)
        from psycopg.rows import tuple_row

        with self.conn.transaction(), self.conn.cursor("claude_proxy_marks", row_factory=tuple_row) as cursor:
            cursor.itersize = 5000
            for seq, recipe, ref in cursor.execute(sql, params):
                newest = max(newest, seq)
                found, readable = referenced(recipe, ref)
                live.update(found)
                if not readable:
                    logger.warning("request log row %s has an unreadable recipe", seq)
        return live, newest

    def _barrier(self) -> int:
        """The newest seq once no writer's transaction is in flight: every row up to it is committed."""
        with self.conn.transaction():
            self.conn.execute("LOCK TABLE store_meta IN ACCESS EXCLUSIVE MODE")
            return int(self.conn.execute(f"SELECT coalesce(max(seq), 0) AS n FROM {TABLE}").fetchone()["n"])

    def collect(self) -> int:
        """Delete content no row refers to, a chunk per short transaction; return how many pieces went."""
        barrier = self._barrier()
        live, _ = self._marks(0, barrier)
        dead = [bytes(r["name"]) for r in self.conn.execute("SELECT name FROM content") if bytes(r["name"]) not in live]
        removed = 0
        for start in range(0, len(dead), CONTENT_PER_STEP):
            with self.conn.transaction():
                self.conn.execute("LOCK TABLE store_meta IN ACCESS EXCLUSIVE MODE")
                more, barrier = self._marks(barrier)
                live |= more
                chunk = [n for n in dead[start:start + CONTENT_PER_STEP] if n not in live]
                self.conn.execute("INSERT INTO store_meta (key, value) VALUES ('generation', 1) "
                                  "ON CONFLICT (key) DO UPDATE SET value = store_meta.value + 1")
                removed += self.conn.execute("DELETE FROM content WHERE name = ANY(%s)", (chunk,)).rowcount
        return removed

    def prune(self, *, max_age_days: float | None, max_size_mb: float | None,
              now: float | None = None) -> PruneResult:
        """Rows older than ``max_age_days`` go, then the oldest until the log holds under ``max_size_mb``."""
        import psycopg

        now = time.time() if now is None else now
        try:
            return self._prune(max_age_days, max_size_mb, now)
        except psycopg.Error as exc:
            raise LogQueryError(f"cannot prune the request log at {mask_url(self.url)}: "
                                f"{failure_line(exc, self.url)}") from None

    def _prune(self, max_age_days: float | None, max_size_mb: float | None, now: float) -> PruneResult:
        files_before = self._file_bytes()
        result = PruneResult(size_before=self.used_bytes())
        if max_age_days is not None:
            result.rows += self._delete_rows("started_at < %s", (now - max_age_days * 86400,))
        result.content += self.collect()
        if max_size_mb is not None:
            limit = int(max_size_mb * 1024 * 1024)
            used = self.used_bytes()
            while used > limit:
                count = int(self.conn.execute(f"SELECT count(*) AS n FROM {TABLE}").fetchone()["n"])
                if not count:
                    break
                # The rows that would free the excess at the average row's share, at most a tenth at a time.
                need = -(-(used - limit) * count // used)
                step = max(1, min(need, count // 10))
                cutoff = self.conn.execute(f"SELECT started_at FROM {TABLE} ORDER BY started_at LIMIT 1 OFFSET %s",
                                           (step - 1,)).fetchone()["started_at"]
                result.rows += self._delete_rows("started_at <= %s", (cutoff,))
                result.content += self.collect()
                used = self.used_bytes()
        oldest = self.conn.execute(f"SELECT min(started_at) AS n FROM {TABLE}").fetchone()["n"]
        self.conn.execute("DELETE FROM spawns WHERE started_at < %s", (oldest if oldest is not None else now,))
        self.conn.execute(f"VACUUM (ANALYZE) {', '.join(TABLES)}")
        result.size_after = self.used_bytes()
        result.freed_bytes = max(0, files_before - self._file_bytes())
        return result
