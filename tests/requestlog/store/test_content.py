"""Deduplicated storage: every body comes back byte for byte, shared parts are stored once, digests are checked."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from claude_proxy.requestlog.store.sqlite import SqliteTraceStore
from tests.requestlog.conftest import make_entry, write_entries
from tests.requestlog.store.conftest import TOOLS, conversation, stored_rows

ODD_BODIES = [
    b'{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}',
    b'  {\n\t"messages" :\r\n [ {"content":"' + b"x" * 300 + b'" , "role":"user"} ,\n\n{"role":"assistant",'
    b'"content":[{"type":"text","text":"' + b"y" * 200 + b'"}]}  ] ,"model" : "m", "tools": [ ], '
    b'"system" : "' + "\u00e9t\u00e9 \u2603 ".encode() * 40 + b'" }  \n',
    b'{"system":"' + b"s" * 200 + b'","system":"' + b"t" * 200 + b'","messages":[]}',
    b'{"messages":[{"role":"user","content":"\\u00e9\\ud83d\\ude00 escaped ' + b"z" * 200 + b'"}], "model":"m"}',
    b'not json at all ' + b"q" * 300,
    b'{"messages": [{"role":"user","content":"' + b"cut" * 200,  # cut off: not an object, kept whole
    b"",
    b"[1, 2, 3]",
]


def _bodies(db: Path) -> dict[str, str | None]:
    store = SqliteTraceStore(db)
    try:
        return {r["id"]: store.row(r["id"])["request_body"] for r in store.conn.execute("SELECT id FROM requests")}
    finally:
        store.close()


@pytest.mark.parametrize("body", ODD_BODIES, ids=range(len(ODD_BODIES)))
def test_odd_bodies_come_back_byte_for_byte(db: Path, body: bytes) -> None:
    entry = make_entry(request_body=body)
    write_entries(db, [entry])
    assert _bodies(db)[entry.id] == body.decode()


def test_recorded_fixtures_come_back_byte_for_byte(db: Path, fixtures_dir: Path) -> None:
    anthropic = fixtures_dir / "anthropic"
    entries = []
    for request in sorted(anthropic.glob("*request*.json")) + sorted(anthropic.glob("*tool-result*.json")):
        for stream in ("anthropic-stream-tool-use.sse", "anthropic-stream-extended-thinking.sse"):
            entries.append(make_entry(fixtures_dir, stream, request_body=request.read_bytes()))
    write_entries(db, entries)
    rows = stored_rows(db, entries)
    for entry in entries:
        row = rows[entry.id]
        assert row["request_body"] == entry.request_body.decode()
        assert row["response_body"] == entry.response_body.decode()
        assert "store_error" not in row


def test_tools_and_system_are_stored_once(db: Path) -> None:
    entries = conversation(20)
    write_entries(db, entries)
    through = sum(len(e.request_body) + len(e.response_body) for e in entries)
    conn = sqlite3.connect(db)
    stored = conn.execute("SELECT sum(length(data)) FROM content").fetchone()[0]
    recipes = conn.execute("SELECT sum(length(request_recipe)) FROM requests").fetchone()[0]
    tools = len(json.dumps(TOOLS).encode())
    assert conn.execute("SELECT count(*) FROM content WHERE size = ?", (tools,)).fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM requests WHERE request_body IS NOT NULL").fetchone()[0] == 0
    conn.close()
    assert stored + recipes < through / 5, (stored, recipes, through)
    bodies = _bodies(db)
    assert all(bodies[e.id] == e.request_body.decode() for e in entries)


def test_a_damaged_piece_is_reported_not_shown(db: Path) -> None:
    entry = conversation(1)[0]
    write_entries(db, [entry])
    conn = sqlite3.connect(db)
    name, data = conn.execute("SELECT name, data FROM content ORDER BY size DESC LIMIT 1").fetchone()
    conn.execute("UPDATE content SET data = ? WHERE name = ?", (b"\x00" + b'"changed"', name))
    conn.commit()
    conn.close()
    store = SqliteTraceStore(db)
    try:
        row = store.row(entry.id)
    finally:
        store.close()
    assert "digest" in row["store_error"]
    assert row["request_body"] is None


def test_content_compressed_in_one_call_reads_back_as_compressed_one_by_one() -> None:
    from claude_proxy.requestlog.store.content import pack, pack_many, unpack

    items = [b"", b"tiny", b"x" * 63, b"y" * 64, bytes(range(256)) * 3, json.dumps(TOOLS).encode(), b"z" * 100_000]
    packed = pack_many(items)
    assert packed == [pack(item) for item in items]  # the same stored form, raw where zstd saves nothing
    assert [unpack(p) for p in packed] == items
    assert pack_many([]) == []
