"""The trace store on a real PostgreSQL: the same bodies, sessions, search and usage as SQLite, and retention."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from claude_proxy.requestlog.entry import LogEntry
from claude_proxy.requestlog.pglog import PostgresRequestLog
from claude_proxy.requestlog.query import LogQueryError
from claude_proxy.requestlog.store.content import names
from claude_proxy.requestlog.store.pgretention import PostgresRetention
from claude_proxy.requestlog.store.protocol import Filters
from claude_proxy.requestlog.store.sqlite import SqliteTraceStore
from claude_proxy.requestlog.store.targets import open_maintenance, open_trace_store
from tests.requestlog.conftest import KEY, make_entry, write_entries, write_pg
from tests.requestlog.store.conftest import TOOLS, answer, conversation, exchange, text, tool_use
from tests.requestlog.store.test_content import ODD_BODIES
from tests.support.services import PostgresServer, free_port

DAY = 86400.0
T0 = 1_780_000_000.0


def _rounded(value: Any) -> Any:
    """Floats to 9 places, so sums taken in a different order compare equal."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _mixed() -> list[LogEntry]:
    """Sessions by header, by threading and with a subagent; errors, other models, other keys, other days."""
    prompt = "Search the code base for every caller of open_log and report them"
    parent = exchange([{"role": "user", "content": "Refactor open_log"}],
                      answer(text("I will ask a subagent."), tool_use("Task", {"description": "find callers",
                                                                                "prompt": prompt})),
                      started_at=T0 + 3 * DAY)
    child = exchange([{"role": "user", "content": [text("<system-reminder>be nice</system-reminder>"), text(prompt)]}],
                     answer(text("Looking."), tool_use("Grep", {"pattern": "open_log"})), started_at=T0 + 3 * DAY + 1)
    other_key = dict(make_entry().request_headers, **{"x-api-key": "sk-ant-api03-another-key-0000ABCD"})
    return (conversation(4, session="7f0c2a4e-1111-4a2b-9c3d-0123456789ab")
            + conversation(3, opening="Write a haiku about Postgres", start=T0 + DAY)
            + [parent, child]
            + [exchange([{"role": "user", "content": "Overloaded?"}], answer(text("no")), status=529,
                        started_at=T0 + 2 * DAY, error="overloaded_error: Overloaded"),
               make_entry(started_at=T0 + 2 * DAY + 5, status=429, requested_model="claude-opus-4-1",
                          request_headers=other_key, response_body=b'{"type":"error","error":{"type":'
                          b'"rate_limit_error","message":"slow down"}}'),
               make_entry(started_at=T0 + 4 * DAY, requested_model="some-unpriced-model", request_headers=other_key,
                          response_body=json.dumps({**answer(text("unpriced answer")),
                                                      "model": "some-unpriced-model"}).encode())])


def test_bodies_come_back_byte_for_byte(pg_url: str, fixtures_dir: Path) -> None:
    entries = [make_entry(request_body=body) for body in ODD_BODIES]
    for request in sorted((fixtures_dir / "anthropic").glob("*request*.json")):
        for stream in ("anthropic-stream-tool-use.sse", "anthropic-stream-extended-thinking.sse"):
            entries.append(make_entry(fixtures_dir, stream, request_body=request.read_bytes()))
    write_pg(pg_url, entries)
    store = open_trace_store(pg_url)
    try:
        for entry in entries:
            row = store.row(entry.id)
            assert "store_error" not in row
            assert row["request_body"] == entry.request_body.decode()
            if entry.response_body is not None:
                assert row["response_body"] == entry.response_body.decode()
    finally:
        store.close()


def test_fifty_turns_store_tools_and_system_once(pg_url: str) -> None:
    entries = conversation(50)
    write_pg(pg_url, entries)
    with psycopg.connect(pg_url) as conn:
        tools = len(json.dumps(TOOLS).encode())
        assert conn.execute("SELECT count(*) FROM content WHERE size = %s", (tools,)).fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM requests WHERE request_body IS NOT NULL").fetchone() == (0,)
        stored, recipes = conn.execute("SELECT (SELECT sum(octet_length(data)) FROM content), "
                                       "(SELECT sum(octet_length(request_recipe)) FROM requests)").fetchone()
    through = sum(len(e.request_body) + len(e.response_body) for e in entries)
    assert stored + recipes < through / 5, (stored, recipes, through)
    store = open_trace_store(pg_url)
    try:
        rows = store.session(entries[0].id, bodies=True)
    finally:
        store.close()
    assert [r["request_body"] for r in rows] == [e.request_body.decode() for e in entries]


def test_every_read_matches_sqlite_for_the_same_entries(pg_url: str, tmp_path: Path) -> None:
    entries = _mixed()
    db = tmp_path / "requests.db"
    write_entries(db, entries)
    write_pg(pg_url, entries)
    sqlite, pg = SqliteTraceStore(db), open_trace_store(pg_url)
    try:
        header = "7f0c2a4e-1111-4a2b-9c3d-0123456789ab"
        everything = Filters()
        asks: list[tuple[str, Any]] = [
            ("rows", lambda s: s.rows(everything, limit=50)),
            ("rows by model", lambda s: s.rows(Filters(model="OPUS"))),
            ("rows with errors", lambda s: s.rows(Filters(status="error"))),
            ("rows ok since", lambda s: s.rows(Filters(status="ok", since=T0 + DAY))),
            ("rows until", lambda s: s.rows(Filters(until=T0 + DAY))),
            ("rows 5xx", lambda s: s.rows(Filters(status="5xx"))),
            ("rows of a key", lambda s: s.rows(Filters(key="abcd"))),
            ("rows of a session", lambda s: s.rows(Filters(session=header))),
            ("row by prefix", lambda s: s.row(entries[5].id[:-2])),
            ("sessions", lambda s: s.sessions(everything, limit=50)),
            ("sessions since", lambda s: s.sessions(Filters(since=T0 + 2 * DAY))),
            ("session", lambda s: s.session(header[:8])),
            ("session with bodies", lambda s: s.session(entries[4].id, bodies=True)),
            ("search a word", lambda s: s.search("haiku", everything)),
            ("search a phrase", lambda s: s.search("def f1(): pass", everything)),
            ("search case", lambda s: s.search("LOOKING", everything)),
            ("search out of order", lambda s: s.search("pass def", everything)),
            ("search filtered", lambda s: s.search("reading file", Filters(session=header))),
        ] + [(f"stats by {by}", lambda s, by=by: s.stats(everything, by=by))
             for by in ("model", "day", "session", "key")]
        for name, ask in asks:
            assert _rounded(ask(pg)) == _rounded(ask(sqlite)), name
        assert len(pg.rows(everything, limit=50)) == len(entries)
        assert [r["id"] for r in pg.search("def f1(): pass", everything)], "a phrase is found"
        assert pg.search("pass def", everything) == [], "a phrase is words in order"
        stats = pg.stats(everything, by="model")
        assert stats["unpriced"] == 1 and stats["errors"] == 2 and stats["cost_usd"] > 0
    finally:
        sqlite.close()
        pg.close()


def test_sessions_by_header_threading_and_subagents(pg_url: str) -> None:
    entries = _mixed()
    write_pg(pg_url, entries)
    store = open_trace_store(pg_url)
    try:
        listed = {s["session_id"]: s for s in store.sessions(Filters(), limit=50)}
        header = listed["7f0c2a4e-1111-4a2b-9c3d-0123456789ab"]
        assert header["requests"] == 4 and header["threads"] == 1 and header["cwd"] == "/home/me/project"
        assert header["first_prompt"] == "Fix the failing test" and header["cost_usd"] > 0
        threaded = listed[entries[4].id]
        assert threaded["requests"] == 3 and threaded["first_prompt"] == "Write a haiku about Postgres"
        spawner = listed[entries[7].id]
        assert spawner["requests"] == 2 and spawner["subagents"] == 1
        (child,) = [r for r in store.session(entries[7].id) if r["id"] == entries[8].id]
        assert child["parent_id"] == entries[7].id and child["thread_id"] == entries[8].id
    finally:
        store.close()


def test_batches_sent_by_both_insert_threads_thread_in_the_order_they_came(pg_url: str) -> None:
    """One entry a batch: turn after turn (no session header) and a subagent's first request go to
    alternate insert threads, each continuing a row the other thread may not have committed yet."""
    turns = conversation(40, opening="Thread these in order, whichever connection sends them")
    entries = turns[:20] + _mixed()[7:9] + turns[20:]  # a Task call and its subagent between the turns
    write_pg(pg_url, entries, batch_size=1)
    store = open_trace_store(pg_url)
    try:
        rows = {r["id"]: r for r in store.rows(Filters(), limit=100)}
    finally:
        store.close()
    assert len(rows) == len(entries)
    assert {rows[e.id]["thread_id"] for e in turns} == {turns[0].id}  # one conversation
    assert {rows[e.id]["session_id"] for e in turns} == {turns[0].id}
    parent, child = entries[20], entries[21]
    assert rows[child.id]["parent_id"] == parent.id and rows[child.id]["session_id"] == rows[parent.id]["session_id"]


def test_following_sees_what_sqlite_following_sees(pg_url: str, tmp_path: Path) -> None:
    db = tmp_path / "requests.db"
    entries = _mixed()
    write_entries(db, entries[:3])
    write_pg(pg_url, entries[:3])
    sqlite, pg = SqliteTraceStore(db), open_trace_store(pg_url)
    try:
        followers = {name: {f: store.follow(f) for f in (Filters(), Filters(status="error"))}
                     for name, store in (("sqlite", sqlite), ("pg", pg))}
        assert all(f.poll() == [] for by in followers.values() for f in by.values())
        write_entries(db, entries[3:])
        write_pg(pg_url, entries[3:])
        for filters in (Filters(), Filters(status="error")):
            got = {name: by[filters].poll() for name, by in followers.items()}
            assert _rounded(got["pg"]) == _rounded(got["sqlite"]), filters
        assert [r["id"] for r in followers["pg"][Filters()].poll()] == []
    finally:
        sqlite.close()
        pg.close()
    assert [r["id"] for r in got["pg"]] == [e.id for e in entries[3:] if e.status >= 400 or e.error]


def test_following_sees_rows_committed_after_higher_numbered_ones(pg_url: str) -> None:
    """Two insert threads, or two instances, commit in any order: a row numbered below one already
    shown still shows when its transaction commits, and numbers a rolled-back batch took are let go."""
    from claude_proxy.requestlog.row import row_values
    from claude_proxy.requestlog.store.pgschema import migrate
    from claude_proxy.requestlog.store.pgwriting import PgStoreWriter

    first, early, late, undone, after = (conversation(1, opening=f"Exchange {n} of the follower test")[0]
                                         for n in range(5))
    writer = PgStoreWriter()
    conns = [psycopg.connect(pg_url, autocommit=True) for _ in range(3)]
    migrate(conns[0])
    for conn in conns:
        conn.execute("SET lock_timeout = 5000")  # a wait this test did not mean fails it, never hangs it

    def send(conn: psycopg.Connection[Any], entry: LogEntry) -> list[bytes]:
        return writer.insert_batch(conn, [writer.prepare(entry, row_values(entry))])

    with conns[1].transaction():
        writer.stored(send(conns[1], first))  # the system prompt and tools all share, stored once
    store = open_trace_store(pg_url)
    try:
        follower = store.follow(Filters())
        held = conns[0].transaction()
        held.__enter__()
        send(conns[0], early)  # numbered first, not committed yet
        with conns[1].transaction():
            send(conns[1], late)
        assert [r["id"] for r in follower.poll()] == [late.id]
        assert follower.poll() == []
        held.__exit__(None, None, None)  # commits
        assert [r["id"] for r in follower.poll()] == [early.id]
        with pytest.raises(psycopg.errors.QueryCanceled):
            with conns[2].transaction():
                send(conns[2], undone)
                conns[2].execute("SET LOCAL statement_timeout = 1")
                conns[2].execute("SELECT pg_sleep(1)")  # the batch fails: its numbers are never used
        writer.rolled_back()
        with conns[1].transaction():
            send(conns[1], after)
        assert [r["id"] for r in follower.poll()] == [after.id]
        assert follower.poll() == [] and follower.poll() == []
        assert not follower.missing, "numbers no transaction can still commit are let go"
        assert {r["id"] for r in store.rows(Filters(), limit=10)} == {first.id, early.id, late.id, after.id}
    finally:
        store.close()
        for conn in conns:
            conn.close()


def test_a_missing_server_or_log_is_one_line_without_the_password(postgres: PostgresServer) -> None:
    url = f"postgresql://me:supersecretpw@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(LogQueryError) as failed:
        open_trace_store(url)
    message = str(failed.value)
    assert "\n" not in message and "supersecretpw" not in message
    assert message.startswith("cannot open the request log at postgresql://me:****")
    empty = postgres.create_database("not_a_log")
    with pytest.raises(LogQueryError, match="no request log in the database"):
        open_trace_store(empty)
    with pytest.raises(LogQueryError, match="no request log in the database"):
        open_maintenance(empty)


def _content_names(url: str) -> tuple[set[bytes], set[bytes]]:
    """(names in the content table, names the rows refer to)."""
    with psycopg.connect(url) as conn:
        stored = {bytes(n) for (n,) in conn.execute("SELECT name FROM content")}
        used: set[bytes] = set()
        for recipe, ref in conn.execute("SELECT request_recipe, response_ref FROM requests"):
            used.update(names(recipe) if recipe is not None else [])
            used.update([bytes(ref)] if ref is not None else [])
    return stored, used


def _wait_written(log: PostgresRequestLog, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while log.written < count:
        assert time.monotonic() < deadline, f"only {log.written} of {count} rows written"
        time.sleep(0.05)


def test_prune_by_age_collects_content_and_a_running_writer_stores_it_again(pg_url: str) -> None:
    now = T0 + 100 * DAY
    old = conversation(6, opening="Old work on the parser", start=now - 40 * DAY)
    new = conversation(4, opening="New work on the lexer", start=now - DAY)
    log = PostgresRequestLog(pg_url)
    log.start()
    try:
        for entry in old + new:
            log.record(entry)
        _wait_written(log, len(old + new))
        before, _ = _content_names(pg_url)
        retention = open_maintenance(pg_url)
        try:
            result = retention.prune(max_age_days=30, max_size_mb=None, now=now)
        finally:
            retention.close()
        assert result.rows == len(old) and result.content > 0
        stored, used = _content_names(pg_url)
        assert stored == used and len(stored) == len(before) - result.content
        # The writer remembers the old turns' content as stored; the prune told it otherwise.
        again = dataclasses.replace(old[-1], id="again0000000000000", started_at=now)
        log.record(again)
        _wait_written(log, len(old + new) + 1)
    finally:
        log.close()
    store = open_trace_store(pg_url)
    try:
        row = store.row(again.id)
        assert "store_error" not in row and row["request_body"] == again.request_body.decode()
        assert [r["id"] for r in store.rows(Filters(), limit=50)][-len(new):] == [e.id for e in reversed(new)]
    finally:
        store.close()


def test_prune_by_size_keeps_the_newest_rows_under_the_limit(pg_url: str) -> None:
    entries: list[LogEntry] = []
    for n in range(4):
        entries += conversation(25, opening=f"Task number {n}: " + "explain this module " * 20,
                                start=T0 + n * DAY)
    write_pg(pg_url, entries)
    retention = PostgresRetention(pg_url)
    try:
        before = retention.used_bytes()
        limit_mb = before * 0.6 / 1024 / 1024
        result = retention.prune(max_age_days=None, max_size_mb=limit_mb, now=T0 + 10 * DAY)
        assert result.size_before == before and result.size_after <= limit_mb * 1024 * 1024
        assert result.size_after == retention.used_bytes()
        assert 0 < result.rows < len(entries) and result.content > 0
    finally:
        retention.close()
    stored, used = _content_names(pg_url)
    assert stored == used
    store = open_trace_store(pg_url)
    try:
        kept = [r["id"] for r in store.rows(Filters(), limit=200)]
        assert kept == [e.id for e in reversed(entries)][:len(kept)], "the oldest rows went first"
        assert entries[-1].id in kept and entries[0].id not in kept
        assert store.row(entries[-1].id)["request_body"] == entries[-1].request_body.decode()
    finally:
        store.close()


def test_a_prune_larger_than_a_step_removes_every_old_row(pg_url: str) -> None:
    old = [make_entry(started_at=T0 + i, request_body=json.dumps(
        {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": f"question {i} " * 20}]}).encode())
        for i in range(2300)]
    new = [make_entry(started_at=T0 + 30 * DAY)]
    write_pg(pg_url, old + new, batch_size=500)
    retention = open_maintenance(pg_url)
    try:
        result = retention.prune(max_age_days=7, max_size_mb=None, now=T0 + 31 * DAY)
    finally:
        retention.close()
    assert result.rows == len(old) and result.content >= len(old)
    stored, used = _content_names(pg_url)
    assert stored == used
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT id FROM requests").fetchall() == [(new[0].id,)]
        assert conn.execute("SELECT value FROM store_meta WHERE key = 'generation'").fetchone()[0] >= 3


def test_key_filter_and_masked_keys(pg_url: str) -> None:
    write_pg(pg_url, [make_entry()])
    store = open_trace_store(pg_url)
    try:
        (row,) = store.rows(Filters(key=KEY))
        assert row["api_key"] == "****WXYZ" and KEY not in json.dumps(store.row(row["id"])["request_headers"])
    finally:
        store.close()


def test_pruning_while_a_writer_sends_the_pruned_content_again_leaves_no_row_without_it(pg_url: str) -> None:
    now = T0 + 100 * DAY
    old = [make_entry(started_at=now - 40 * DAY + i, request_body=json.dumps(
        {"model": "claude-haiku-4-5", "system": f"system prompt {i % 7} " * 30,
         "messages": [{"role": "user", "content": f"question {i} " * 20}]}).encode()) for i in range(300)]
    log = PostgresRequestLog(pg_url, batch_size=20)
    log.start()
    try:
        for entry in old:
            log.record(entry)
        _wait_written(log, len(old))
        again = [dataclasses.replace(e, id=f"again{i:014d}", started_at=now) for i, e in enumerate(old)]
        sent = 0
        for _ in range(3):
            retention = open_maintenance(pg_url)
            try:
                for entry in again[sent:sent + 40]:  # in flight while the prune marks and deletes
                    log.record(entry)
                sent += 40
                retention.prune(max_age_days=30, max_size_mb=None, now=now)
            finally:
                retention.close()
        _wait_written(log, len(old) + sent)
    finally:
        log.close()
    stored, used = _content_names(pg_url)
    assert used <= stored, "every row's content is still there"
    store = open_trace_store(pg_url)
    try:
        rows = store.rows(Filters(), limit=1000)
        assert {r["id"] for r in rows} == {e.id for e in again[:sent]}
        for entry in again[:sent]:
            row = store.row(entry.id)
            assert "store_error" not in row and row["request_body"] == entry.request_body.decode()
    finally:
        store.close()


def test_a_batch_waiting_for_its_turn_never_holds_up_a_prune(pg_url: str) -> None:
    """The batch handed over second may reach the database first. While it waits for the first to be
    threaded it must hold no lock a prune needs: the prune would wait for it, the first batch would
    queue behind the prune, and all three would stand still until the prune's lock timeout."""
    import threading

    from claude_proxy.requestlog.row import row_values
    from claude_proxy.requestlog.store.pgschema import migrate
    from claude_proxy.requestlog.store.pgwriting import PgStoreWriter

    first, second = conversation(2, opening="Batches wait their turn, holding nothing")
    writer = PgStoreWriter()
    prepared = [writer.prepare(e, row_values(e)) for e in (first, second)]
    conns = [psycopg.connect(pg_url, autocommit=True) for _ in range(3)]
    migrate(conns[0])
    done: dict[str, float] = {}

    def send(n: int) -> None:
        with conns[n].transaction():
            writer.stored(writer.insert_batch(conns[n], [prepared[n]], turn=n))
        done[f"batch {n}"] = time.monotonic()

    def prune() -> None:
        conns[2].execute("SET lock_timeout = 5000")
        with conns[2].transaction():
            conns[2].execute("LOCK TABLE store_meta IN ACCESS EXCLUSIVE MODE")
        done["prune"] = time.monotonic()

    started = time.monotonic()
    waiting = threading.Thread(target=send, args=(1,))
    waiting.start()  # the second batch: it waits for the first one's turn
    time.sleep(0.3)
    pruning = threading.Thread(target=prune)
    pruning.start()
    time.sleep(0.3)
    send(0)  # the first batch, after the prune asked for its lock
    for thread in (waiting, pruning):
        thread.join(15)
    for conn in conns:
        conn.close()
    assert set(done) == {"batch 0", "batch 1", "prune"}, done
    assert max(done.values()) - started < 4  # nobody waited for a lock timeout
    assert _count_rows(pg_url) == 2


def _count_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT count(*) FROM requests").fetchone()
    return int(found[0]) if found else 0
