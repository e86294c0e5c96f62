"""Retention for the SQLite trace store: old rows out, the content only they used collected, space returned.

Every step is a short ``BEGIN IMMEDIATE`` transaction (a few hundred rows, a few thousand
pieces of content, a few megabytes of pages), so a ``serve`` writing the same file waits
milliseconds, never the whole prune. Content is collected by marking: the names every
remaining row refers to are read without a lock, then, inside each deleting transaction,
the rows written since are added to them, and the store's generation is bumped so a writer
forgets which content it believed was already stored.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from claude_proxy.requestlog.schema import TABLE, connect, migrate
from claude_proxy.requestlog.store.content import ContentError, rebuild, referenced, unpack
from claude_proxy.requestlog.store.pieces import split
from claude_proxy.requestlog.store.protocol import PruneResult
from claude_proxy.requestlog.store.writing import index_text

logger = logging.getLogger(__name__)

ROWS_PER_STEP = 500
CONTENT_PER_STEP = 2000
PAGES_PER_STEP = 2048


def _used_bytes(conn: sqlite3.Connection) -> int:
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)


def _file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


class SqliteRetention:
    """`TraceMaintenance` for a SQLite log file."""

    def __init__(self, path: Path, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.conn = connect(self.path, busy_timeout=busy_timeout)
        migrate(self.conn)

    def close(self) -> None:
        self.conn.close()

    def _fetch(self, name: bytes) -> bytes:
        found = self.conn.execute("SELECT data FROM content WHERE name = ?", (name,)).fetchone()
        if found is None:
            raise ContentError("missing content")
        return unpack(found[0])

    def _unindex(self, rows: list[tuple[Any, ...]]) -> None:
        """Take rows out of the search index, which needs the very text each was indexed with."""
        for rowid, recipe, expected, fts_from, message in rows:
            if recipe is None:
                continue  # written before the trace store, or without bodies: never indexed
            try:
                body = rebuild(recipe, self._fetch, expected)
                answer = json.loads(message) if message else None
            except (ContentError, ValueError, UnicodeDecodeError):
                continue
            text = index_text(split(body).messages, fts_from or 0, answer)
            if text:
                self.conn.execute(f"INSERT INTO {TABLE}_fts ({TABLE}_fts, rowid, text) VALUES ('delete', ?, ?)",
                                  (rowid, text))

    def _delete_rows(self, where: str, params: tuple[Any, ...]) -> int:
        """Delete the oldest rows matching ``where``, one step at a time; return how many."""
        total = 0
        while True:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                rows = self.conn.execute(
                    f"SELECT rowid, request_recipe, request_digest, fts_from, message FROM {TABLE} "
                    f"WHERE {where} ORDER BY started_at LIMIT ?", params + (ROWS_PER_STEP,)).fetchall()
                self._unindex(rows)
                self.conn.executemany(f"DELETE FROM {TABLE} WHERE rowid = ?", [(r[0],) for r in rows])
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            total += len(rows)
            if len(rows) < ROWS_PER_STEP:
                return total

    def _live(self, since_rowid: int = 0) -> tuple[set[bytes], int]:
        """Every content name rows after ``since_rowid`` refer to, and the newest rowid read."""
        live: set[bytes] = set()
        newest = since_rowid
        for rowid, recipe, ref in self.conn.execute(
                f"SELECT rowid, request_recipe, response_ref FROM {TABLE} WHERE rowid > ?", (since_rowid,)):
            newest = max(newest, rowid)
            found, readable = referenced(recipe, ref)
            live.update(found)
            if not readable:
                logger.warning("request log row %s has an unreadable recipe", rowid)
        return live, newest

    def collect(self) -> int:
        """Delete content no row refers to; return how many pieces went."""
        live, newest = self._live()
        dead = [bytes(n) for (n,) in self.conn.execute("SELECT name FROM content") if bytes(n) not in live]
        removed = 0
        for start in range(0, len(dead), CONTENT_PER_STEP):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                more, newest = self._live(newest)
                live |= more
                chunk = [(n,) for n in dead[start:start + CONTENT_PER_STEP] if n not in live]
                self.conn.execute("INSERT INTO store_meta (key, value) VALUES ('generation', 1) "
                                  "ON CONFLICT(key) DO UPDATE SET value = value + 1")
                self.conn.executemany("DELETE FROM content WHERE name = ?", chunk)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            removed += len(chunk)
        return removed

    def merge_index(self) -> None:
        """Fold the search index's delete markers into its segments, a step per transaction.

        ``usermerge`` 2 lets a merge combine any two segments of a level, so the deleted entries
        of a prune actually go, without an ``optimize`` that rewrites the whole index in one lock.
        """
        self.conn.execute(f"INSERT INTO {TABLE}_fts ({TABLE}_fts, rank) VALUES ('usermerge', 2)")
        while True:
            before = self.conn.total_changes
            self.conn.execute(f"INSERT INTO {TABLE}_fts ({TABLE}_fts, rank) VALUES ('merge', -64)")
            if self.conn.total_changes - before <= 1:
                return

    def vacuum(self) -> int:
        """Give free pages back to the file system a step at a time; return the bytes given back."""
        if self.conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
            return 0  # a file from before the trace store: SQLite reuses its free pages instead
        before = _file_bytes(self.path)
        while self.conn.execute("PRAGMA freelist_count").fetchone()[0] > 0:
            self.conn.execute(f"PRAGMA incremental_vacuum({PAGES_PER_STEP})")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return max(0, before - _file_bytes(self.path))

    def prune(self, *, max_age_days: float | None, max_size_mb: float | None,
              now: float | None = None) -> PruneResult:
        """Rows older than ``max_age_days`` go, then the oldest until the log holds under ``max_size_mb``."""
        now = time.time() if now is None else now
        result = PruneResult(size_before=_used_bytes(self.conn))
        if max_age_days is not None:
            result.rows += self._delete_rows("started_at < ?", (now - max_age_days * 86400,))
        result.content += self.collect()
        if max_size_mb is not None:
            limit = int(max_size_mb * 1024 * 1024)
            while _used_bytes(self.conn) > limit:
                count = self.conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
                if not count:
                    break
                step = max(1, min(ROWS_PER_STEP, count // 10))
                cutoff = self.conn.execute(f"SELECT started_at FROM {TABLE} ORDER BY started_at LIMIT 1 OFFSET ?",
                                           (step - 1,)).fetchone()[0]
                result.rows += self._delete_rows("started_at <= ?", (cutoff,))
                result.content += self.collect()
                self.merge_index()
        oldest = self.conn.execute(f"SELECT min(started_at) FROM {TABLE}").fetchone()[0]
        self.conn.execute("DELETE FROM spawns WHERE started_at < ?", (oldest if oldest is not None else now,))
        if result.rows:
            self.merge_index()
        result.freed_bytes = self.vacuum()
        result.size_after = _used_bytes(self.conn)
        return result


def keep_pruning(path: Path, max_age_days: float | None, max_size_mb: float | None, stop: threading.Event,
                 *, first: float = 10.0, every: float = 3600.0, busy_timeout: float = 10.0) -> None:
    """Apply ``log.retention`` ``first`` seconds after start, then every ``every`` seconds, until ``stop``.

    Runs on its own thread and connection in the writer process, so batches keep going in
    between its short transactions. A failed prune is logged and tried again next time.
    """
    wait = first
    while not stop.wait(wait):
        wait = every
        try:
            retention = SqliteRetention(path, busy_timeout=busy_timeout)
            try:
                result = retention.prune(max_age_days=max_age_days, max_size_mb=max_size_mb)
            finally:
                retention.close()
        except (sqlite3.Error, OSError) as exc:
            logger.warning("request log retention failed: %s", exc)
            continue
        if result.rows:
            logger.info("request log retention removed %d rows (%.1f MB in use)", result.rows,
                        result.size_after / 1e6)
