"""Sessions: Claude Code's header, threading by messages, subagents linked to the session that spawned them."""

from __future__ import annotations

from pathlib import Path

from claude_proxy.requestlog.store.protocol import Filters
from claude_proxy.requestlog.store.sqlite import SqliteTraceStore
from tests.requestlog.conftest import read_rows, write_entries
from tests.requestlog.store.conftest import answer, conversation, exchange, text, tool_use


def _by_id(db: Path) -> dict[str, dict]:
    return {r["id"]: r for r in read_rows(db)}


def test_claude_code_session_header_groups_rows_and_is_not_masked(db: Path) -> None:
    session = "7f0c2a4e-1111-4a2b-9c3d-0123456789ab"
    entries = conversation(3, session=session) + conversation(1, opening="Unrelated question", session="other-one")
    write_entries(db, entries)
    rows = _by_id(db)
    assert [rows[e.id]["session_id"] for e in entries] == [session] * 3 + ["other-one"]
    assert session in rows[entries[0].id]["request_headers"], "the session id is not a secret"
    store = SqliteTraceStore(db)
    try:
        listed = {s["session_id"]: s for s in store.sessions(Filters())}
        assert listed[session]["requests"] == 3 and listed[session]["threads"] == 1
        assert listed[session]["first_prompt"] == "Fix the failing test"
        assert listed[session]["cwd"] == "/home/me/project"
        assert listed[session]["cost_usd"] > 0
        assert [r["id"] for r in store.session(session[:8])] == [e.id for e in entries[:3]]
    finally:
        store.close()


def test_threading_joins_turns_without_the_header_despite_the_moving_cache_mark(db: Path) -> None:
    first = conversation(4)
    other = conversation(2, opening="Write a haiku about SQLite", start=1_780_000_100.0)
    write_entries(db, first[:2] + other[:1] + first[2:] + other[1:])
    rows = _by_id(db)
    assert {rows[e.id]["session_id"] for e in first} == {first[0].id}
    assert {rows[e.id]["thread_id"] for e in first} == {first[0].id}
    assert {rows[e.id]["session_id"] for e in other} == {other[0].id}


def test_a_subagent_conversation_is_linked_to_the_request_that_spawned_it(db: Path) -> None:
    prompt = "Search the code base for every caller of open_log and report them"
    parent = exchange([{"role": "user", "content": "Refactor open_log"}],
                      answer(text("I will ask a subagent."), tool_use("Task", {"description": "find callers",
                                                                                "prompt": prompt})),
                      started_at=1_780_000_000.0)
    child_first = exchange([{"role": "user", "content": [text("<system-reminder>be nice</system-reminder>"),
                                                         text(prompt)]}],
                           answer(text("Looking."), tool_use("Grep", {"pattern": "open_log"})),
                           started_at=1_780_000_001.0)
    write_entries(db, [parent, child_first])
    rows = _by_id(db)
    assert rows[child_first.id]["session_id"] == rows[parent.id]["session_id"] == parent.id
    assert rows[child_first.id]["parent_id"] == parent.id
    assert rows[child_first.id]["thread_id"] == child_first.id
    store = SqliteTraceStore(db)
    try:
        (listed,) = store.sessions(Filters())
        assert listed["subagents"] == 1 and listed["requests"] == 2
    finally:
        store.close()


def test_two_conversations_opening_with_the_same_words_stay_apart(db: Path) -> None:
    first, second = conversation(2), conversation(2, start=1_780_000_100.0)
    write_entries(db, first + second)
    rows = _by_id(db)
    assert {rows[e.id]["session_id"] for e in first} == {first[0].id}
    assert {rows[e.id]["session_id"] for e in second} == {second[0].id}
