"""The request log's SQLite schema and its versioned migrations.

``PRAGMA user_version`` holds how many migrations a file has had. Migrations
are an ordered list and only ever appended to: a later release that needs a
column adds one entry, and every existing log file picks it up on its next
open. Migrating runs inside ``BEGIN IMMEDIATE`` so several ``serve --workers``
processes opening one file at once migrate it exactly once.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from pathlib import Path

logger = logging.getLogger(__name__)

TABLE = "requests"

MIGRATIONS: list[str] = [
    # 1: one row per exchange, bodies as text, the assembled message and usage parsed out.
    f"""
    CREATE TABLE IF NOT EXISTS {TABLE} (
        id TEXT PRIMARY KEY,
        started_at REAL NOT NULL,
        duration_ms REAL,
        ttfb_ms REAL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        requested_model TEXT,
        upstream_model TEXT,
        stream INTEGER NOT NULL DEFAULT 0,
        status INTEGER,
        request_headers TEXT,
        response_headers TEXT,
        request_body TEXT,
        response_body TEXT,
        request_truncated INTEGER NOT NULL DEFAULT 0,
        response_truncated INTEGER NOT NULL DEFAULT 0,
        message TEXT,
        input_tokens INTEGER,
        output_tokens INTEGER,
        cache_read_tokens INTEGER,
        cache_creation_tokens INTEGER,
        stop_reason TEXT,
        error TEXT
    );
    CREATE INDEX IF NOT EXISTS {TABLE}_started_at ON {TABLE}(started_at);
    CREATE INDEX IF NOT EXISTS {TABLE}_model ON {TABLE}(requested_model);
    CREATE INDEX IF NOT EXISTS {TABLE}_status ON {TABLE}(status);
    """,
    # 2: routing (which backend answered, after how many tries) and the bodies' real sizes.
    f"""
    ALTER TABLE {TABLE} ADD COLUMN route TEXT;
    ALTER TABLE {TABLE} ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE {TABLE} ADD COLUMN request_bytes INTEGER;
    ALTER TABLE {TABLE} ADD COLUMN response_bytes INTEGER;
    """,
    # 3: each upstream attempt of a retried or fallen-back exchange (JSON list; NULL for one try).
    f"""
    ALTER TABLE {TABLE} ADD COLUMN attempt_log TEXT;
    """,
    # 4: the trace store. Bodies move to content-addressed, compressed `content` (request_body and
    # response_body stay NULL for new rows: the recipe and response_ref rebuild them, checked by
    # request_digest); sessions and threads; rate-limit headers; the key; the search index.
    f"""
    ALTER TABLE {TABLE} ADD COLUMN session_id TEXT;
    ALTER TABLE {TABLE} ADD COLUMN thread_id TEXT;
    ALTER TABLE {TABLE} ADD COLUMN parent_id TEXT;
    ALTER TABLE {TABLE} ADD COLUMN conv_key BLOB;
    ALTER TABLE {TABLE} ADD COLUMN api_key TEXT;
    ALTER TABLE {TABLE} ADD COLUMN cache_creation_1h_tokens INTEGER;
    ALTER TABLE {TABLE} ADD COLUMN ratelimit TEXT;
    ALTER TABLE {TABLE} ADD COLUMN request_recipe BLOB;
    ALTER TABLE {TABLE} ADD COLUMN request_digest BLOB;
    ALTER TABLE {TABLE} ADD COLUMN response_ref BLOB;
    ALTER TABLE {TABLE} ADD COLUMN fts_from INTEGER;
    CREATE INDEX IF NOT EXISTS {TABLE}_session ON {TABLE}(session_id, started_at);
    CREATE INDEX IF NOT EXISTS {TABLE}_conv ON {TABLE}(conv_key);
    CREATE TABLE IF NOT EXISTS content (name BLOB PRIMARY KEY, data BLOB NOT NULL, size INTEGER NOT NULL)
        WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS spawns (prompt BLOB PRIMARY KEY, session_id TEXT, thread_id TEXT,
        row_id TEXT, started_at REAL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;
    CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE}_fts USING fts5(text, content='', tokenize='unicode61')
    """,
    # 5: when each chunk of a streamed answer arrived ([[byte offset, ms], ...]), for the viewer's time line.
    f"""
    ALTER TABLE {TABLE} ADD COLUMN chunk_times TEXT
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaError(Exception):
    """A file that is not a request log this release can read."""


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def connect(path: Path, *, busy_timeout: float = 10.0, readonly: bool = False) -> sqlite3.Connection:
    """Open a log file in autocommit mode, WAL journal, waiting ``busy_timeout`` s on locks.

    Transactions are explicit (``BEGIN IMMEDIATE``) so a writer takes its lock up
    front instead of failing half-way when another process writes too.
    """
    if readonly:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True,
                               timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        return conn
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    new = not Path(path).exists() or Path(path).stat().st_size == 0
    conn = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    if new:
        # Only a new, empty file takes this (before WAL writes its header): space freed by pruning then
        # goes back to the file system a little at a time. Older files reuse their free pages instead.
        with contextlib.suppress(sqlite3.OperationalError):
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError:
            # Another process holds the lock while it switches the journal mode too.
            if time.monotonic() > deadline:
                conn.close()
                raise
            time.sleep(0.05)
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def bind_none_directly() -> None:
    """Let sqlite3 bind None parameters without looking for ways to adapt them first.

    The sqlite3 module binds int, float, str and bytearray as they are, but sends every
    other value, None included, through its adaptation protocol: a registry lookup, then
    ``PrepareProtocol.__adapt__`` and ``None.__conform__``, two failed attribute lookups
    that each format an AttributeError message. A log row has five or so NULLs, and that
    was a sixth of an insert's CPU. An adapter registered for NoneType ends the search at
    the registry: ``{}.get(None)`` returns None, which is bound as NULL exactly as before.
    Process-wide, and harmless to any other sqlite3 user: None still means NULL.
    """
    sqlite3.register_adapter(type(None), _NONE)


_EMPTY: dict[object, None] = {}
_NONE = _EMPTY.get


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, *, target: int | None = None,
            migrations: list[str] | None = None) -> int:
    """Apply the pending migrations (up to ``target``) in one transaction; return the version.

    A file from a newer release is left alone: its extra columns do not stop
    this release from writing the ones it knows.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    target = len(migrations) if target is None else target
    version = schema_version(conn)
    if version >= target:
        # Up to date: no write lock needed, so opening never waits for another process's writes.
        if version > len(migrations):
            logger.warning("request log schema version %d is newer than this release's %d",
                           version, len(migrations))
        return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(conn)
        if version > len(migrations):
            logger.warning("request log schema version %d is newer than this release's %d",
                           version, len(migrations))
        for number in range(version, target):
            for statement in _statements(migrations[number]):
                conn.execute(statement)
        if target > version:  # one line, however many steps
            logger.info("request log %s to schema version %d", "created" if version == 0 else
                        f"migrated from schema version {version}", target)
            conn.execute(f"PRAGMA user_version = {int(target)}")
            version = target
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version


def columns(conn: sqlite3.Connection) -> set[str]:
    """The columns the log table has in this file (empty when there is no log table)."""
    return {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
