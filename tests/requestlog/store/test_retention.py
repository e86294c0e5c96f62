"""Retention: old rows go with the content only they used and their search entries; what stays still reads."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

from claude_proxy.requestlog.schema import SCHEMA_VERSION
from claude_proxy.requestlog.store.protocol import Filters
from claude_proxy.requestlog.store.retention import SqliteRetention
from claude_proxy.requestlog.store.sqlite import SqliteTraceStore
from tests.requestlog.conftest import make_entry, read_rows, write_entries
from tests.requestlog.store.conftest import conversation

DAY = 86400.0
NOW = 1_780_000_000.0 + 10 * DAY


def _count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def test_prune_by_age_collects_content_and_search_entries(db: Path) -> None:
    old = conversation(5, opening="An old question about zebras")
    new = conversation(5, opening="A new question about giraffes", start=NOW - 3600)
    write_entries(db, old + new)
    content_before = _count(db, "SELECT count(*) FROM content")
    retention = SqliteRetention(db)
    try:
        result = retention.prune(max_age_days=7, max_size_mb=None, now=NOW)
    finally:
        retention.close()
    assert result.rows == 5 and result.content > 0
    assert _count(db, "SELECT count(*) FROM content") == content_before - result.content
    rows = read_rows(db)
    assert [r["id"] for r in rows] == [e.id for e in new]
    assert all(r["request_body"] == e.request_body.decode() for r, e in zip(rows, new, strict=True))
    store = SqliteTraceStore(db)
    try:
        assert store.search("zebras", Filters()) == []
        assert [r["id"] for r in store.search("giraffes", Filters())] == [new[0].id]
    finally:
        store.close()
    assert _count(db, "SELECT count(*) FROM requests_fts") > 0


def test_prune_by_size_keeps_the_newest_rows_and_gives_space_back(db: Path) -> None:
    entries = [make_entry(started_at=NOW - i, request_body=(b'{"messages":[{"role":"user","content":"%d %s"}]}'
                                                          % (i, os.urandom(4000).hex().encode())))
               for i in range(400)]
    write_entries(db, entries)
    size_before = db.stat().st_size
    retention = SqliteRetention(db)
    try:
        result = retention.prune(max_age_days=None, max_size_mb=0.5, now=NOW)
    finally:
        retention.close()
    assert result.size_after <= 0.5 * 1024 * 1024 < result.size_before
    assert result.freed_bytes > 0 and db.stat().st_size < size_before
    kept = {r["id"] for r in read_rows(db)}
    assert kept and entries[0].id in kept and entries[-1].id not in kept


def test_a_log_written_before_the_trace_store_is_migrated_and_still_reads(db: Path, fixtures_dir: Path) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(fixtures_dir / "requestlog" / "schema-v3.sqlite", db)
    write_entries(db, conversation(2, session="after-upgrade"))
    assert _count(db, "PRAGMA user_version") == SCHEMA_VERSION
    store = SqliteTraceStore(db)
    try:
        old = store.row("v3tool")
        assert old["request_body"].startswith('{"model":"claude-sonnet-4-5"')
        assert "event: message_start" in old["response_body"]
        assert old["message"]["content"][1]["name"] == "get_weather"
        assert store.row("v3overloaded")["error"] == "overloaded_error: Overloaded"
        assert len(store.rows(Filters(), limit=10)) == 6
        (session,) = store.sessions(Filters())
        assert session["session_id"] == "after-upgrade" and session["requests"] == 2
    finally:
        store.close()
    retention = SqliteRetention(db)
    try:
        retention.prune(max_age_days=1, max_size_mb=None, now=NOW + 400 * DAY)
    finally:
        retention.close()
    assert read_rows(db) == []


def test_the_writer_applies_log_retention_while_it_runs(db: Path, tmp_path: Path) -> None:
    from claude_proxy.requestlog.writer import SqliteRequestLog
    from claude_proxy.settings import load_settings

    config = tmp_path / "settings.yaml"
    config.write_text(f"log:\n  path: {db}\n  retention:\n    max_age_days: 7\n")
    log = SqliteRequestLog.from_settings(load_settings(config).log)
    assert (log.max_age_days, log.max_size_mb) == (7, None)
    log.retention_first = 0.5
    old = conversation(3, opening="Something from last month", start=time.time() - 30 * DAY)
    new = conversation(2, opening="Something from today", start=time.time())
    log.start()
    try:
        for entry in old + new:
            log.record(entry)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if db.exists() and _count(db, "SELECT count(*) FROM requests") == 2:
                break
            time.sleep(0.1)
    finally:
        log.close()
    assert [r["id"] for r in read_rows(db)] == [e.id for e in new]


def test_pruning_while_the_writer_writes_loses_no_content(db: Path) -> None:
    """Sessions share tools and system: a prune that deletes old rows must not take content new rows still use."""
    from claude_proxy.requestlog.writer import SqliteRequestLog

    log = SqliteRequestLog(db, batch_size=5)
    log.start()
    written: list[str] = []
    try:
        for round_ in range(6):
            batch = conversation(4, opening=f"Round {round_} question", start=NOW - (6 - round_) * DAY)
            for entry in batch:
                log.record(entry)
            written += [e.id for e in batch]
            retention = SqliteRetention(db)
            try:
                retention.prune(max_age_days=2.5, max_size_mb=None, now=NOW)
            finally:
                retention.close()
    finally:
        log.close()
    store = SqliteTraceStore(db)
    try:
        ids = [r[0] for r in store.conn.execute("SELECT id FROM requests")]
        assert ids, "the newest rounds stay"
        for ident in ids:
            row = store.row(ident)
            assert "store_error" not in row and row["request_body"].startswith('{"model"')
    finally:
        store.close()
