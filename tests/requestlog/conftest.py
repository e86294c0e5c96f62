"""Helpers for the request-log tests: entries shaped like the proxy's, rows read back with sqlite3."""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from claude_proxy.requestlog.entry import LogEntry, new_entry_id
from claude_proxy.requestlog.store.sqlite import SqliteTraceStore
from claude_proxy.requestlog.writer import SqliteRequestLog
from tests.support.services import PostgresServer

KEY = "sk-ant-api03-TESTKEYdoNotLogThis-0123456789abcdefWXYZ"


def make_entry(fixtures_dir: Path | None = None, stream_file: str | None = None, **fields: Any) -> LogEntry:
    """A /v1/messages exchange as the proxy records it; ``stream_file`` supplies the SSE response."""
    defaults: dict[str, Any] = {
        "id": new_entry_id(),
        "started_at": time.time(),
        "method": "POST",
        "path": "/v1/messages?beta=true",
        "duration_ms": 120.0,
        "ttfb_ms": 15.0,
        "status": 200,
        "request_headers": {"x-api-key": KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"},
        "response_headers": {"content-type": "application/json", "request-id": "req_011"},
        "request_body": b'{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}',
    }
    if stream_file:
        assert fixtures_dir is not None
        defaults["response_body"] = (fixtures_dir / "anthropic" / stream_file).read_bytes()
        defaults["response_headers"] = {"content-type": "text/event-stream", "request-id": "req_012"}
        defaults["request_body"] = (b'{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,'
                                    b'"messages":[{"role":"user","content":"hi"}]}')
        defaults["stream"] = True
    defaults.update(fields)
    return LogEntry(**defaults)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every row as stored, with its bodies rebuilt from the content store (as the logs commands read them)."""
    store = SqliteTraceStore(path)
    store.conn.row_factory = sqlite3.Row
    try:
        return [store.bodies(dict(r)) for r in store.conn.execute("SELECT * FROM requests ORDER BY rowid")]
    finally:
        store.close()


def write_entries(path: Path, entries: list[LogEntry], **options: Any) -> None:
    log = SqliteRequestLog(path, **options)
    log.start()
    for entry in entries:
        log.record(entry)
    log.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "requests.db"


def write_pg(url: str, entries: list[LogEntry], **options: Any) -> None:
    """Write ``entries`` into the Postgres log at ``url`` as the log child does, and wait until they are in."""
    from claude_proxy.requestlog.pglog import PostgresRequestLog

    log = PostgresRequestLog(url, **options)
    log.start()
    for entry in entries:
        log.record(entry)
    log.close()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """One throw-away PostgreSQL cluster per test module (initdb costs a second or more)."""
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.remove()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """A fresh, empty database in the module's cluster."""
    return postgres.create_database(f"log_{uuid.uuid4().hex[:12]}")
