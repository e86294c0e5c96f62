"""The trace store's tables on PostgreSQL, and their versioned migrations.

The same layout as the SQLite file (see ``schema``): one ``requests`` row per exchange,
bodies rebuilt from content-addressed, compressed ``content`` rows stored once, the
Task prompts that link subagents, and a full-text column (``tsvector``, GIN-indexed)
in place of FTS5. ``seq`` gives rows their insertion order, as SQLite's rowid does.
Integers are BIGINT: a client's token count must never fail a row.

Several instances may start at once against one database: each migration runs in a
transaction under an advisory lock, so exactly one applies it and the others see it.
"""

from __future__ import annotations

from typing import Any

TABLE = "requests"
MIGRATION_LOCK = 0x636C7072  # the advisory lock id every instance migrates under

MIGRATIONS: list[str] = [
    # 1: the trace store (the SQLite schema's version 4, in one step).
    f"""
    CREATE TABLE IF NOT EXISTS {TABLE} (
        seq BIGSERIAL UNIQUE,
        id TEXT PRIMARY KEY,
        started_at DOUBLE PRECISION NOT NULL,
        duration_ms DOUBLE PRECISION,
        ttfb_ms DOUBLE PRECISION,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        requested_model TEXT,
        upstream_model TEXT,
        stream BIGINT NOT NULL DEFAULT 0,
        status BIGINT,
        request_headers TEXT,
        response_headers TEXT,
        request_body TEXT,
        response_body TEXT,
        request_truncated BIGINT NOT NULL DEFAULT 0,
        response_truncated BIGINT NOT NULL DEFAULT 0,
        message TEXT,
        input_tokens BIGINT,
        output_tokens BIGINT,
        cache_read_tokens BIGINT,
        cache_creation_tokens BIGINT,
        stop_reason TEXT,
        error TEXT,
        route TEXT,
        attempts BIGINT NOT NULL DEFAULT 1,
        request_bytes BIGINT,
        response_bytes BIGINT,
        attempt_log TEXT,
        session_id TEXT,
        thread_id TEXT,
        parent_id TEXT,
        conv_key BYTEA,
        api_key TEXT,
        cache_creation_1h_tokens BIGINT,
        ratelimit TEXT,
        request_recipe BYTEA,
        request_digest BYTEA,
        response_ref BYTEA,
        fts_from BIGINT,
        chunk_times TEXT,
        fts TSVECTOR
    );
    CREATE INDEX IF NOT EXISTS {TABLE}_started_at ON {TABLE} (started_at);
    CREATE INDEX IF NOT EXISTS {TABLE}_model ON {TABLE} (requested_model);
    CREATE INDEX IF NOT EXISTS {TABLE}_status ON {TABLE} (status);
    CREATE INDEX IF NOT EXISTS {TABLE}_session ON {TABLE} (session_id, started_at);
    CREATE INDEX IF NOT EXISTS {TABLE}_conv ON {TABLE} (conv_key);
    CREATE INDEX IF NOT EXISTS {TABLE}_fts ON {TABLE} USING GIN (fts);
    CREATE TABLE IF NOT EXISTS content (name BYTEA PRIMARY KEY, data BYTEA NOT NULL, size BIGINT NOT NULL);
    CREATE TABLE IF NOT EXISTS spawns (prompt BYTEA PRIMARY KEY, session_id TEXT, thread_id TEXT,
        row_id TEXT, started_at DOUBLE PRECISION);
    CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value BIGINT)
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class PgSchemaError(Exception):
    """A database this release cannot use (newer schema, or not ours)."""


def migrate(conn: Any) -> int:
    """Bring the database to `SCHEMA_VERSION` (idempotent, safe with several instances); the version."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS claude_proxy_schema (version INTEGER NOT NULL)")
        found = conn.execute("SELECT max(version) FROM claude_proxy_schema").fetchone()
        version = int(found[0]) if found and found[0] is not None else 0
        if version > SCHEMA_VERSION:
            raise PgSchemaError(f"the log database has schema version {version}, newer than this release's "
                                f"{SCHEMA_VERSION}; upgrade claude-proxy")
        for number in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _statements(MIGRATIONS[number - 1]):
                conn.execute(statement)
            conn.execute("INSERT INTO claude_proxy_schema (version) VALUES (%s)", (number,))
    return SCHEMA_VERSION


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def is_postgres(target: str | None) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) log URL."""
    return bool(target) and str(target).startswith(("postgresql://", "postgres://"))
