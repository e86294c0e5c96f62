"""Splitting with runs: what the writer remembers of a conversation changes its cost, never its result.

A request is split against the runs of messages kept from earlier requests (`pieces.SplitCache`),
and its piece names and threading keys carry on from what was derived for the run
(`naming`). Every result must equal a split of the same text from scratch, for conversations
that interleave, open with the same words, retry a turn or rewrite their history.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from claude_proxy.requestlog.entry import LogEntry
from claude_proxy.requestlog.row import row_values
from claude_proxy.requestlog.store.content import ContentError, digest, rebuild
from claude_proxy.requestlog.store.pieces import SplitCache, split
from claude_proxy.requestlog.store.threads import message_digest, prefix_keys
from claude_proxy.requestlog.store.writing import SqliteStoreWriter
from tests.requestlog.conftest import write_entries
from tests.requestlog.store.conftest import answer, conversation, exchange, stored_rows, text, tool_use


def _traffic() -> list[LogEntry]:
    """Three conversations interleaved turn by turn (two open with the same words), then a retried turn,
    a request whose history was rewritten part-way, and one cut back to an earlier turn."""
    a = conversation(8, opening="Fix the failing test in the parser module, please")
    b = conversation(8, opening="Fix the failing test in the parser module, please")
    c = conversation(6, opening="Explain this repository to me " * 10)
    mixed = [entry for turn in zip(a, b, c + [c[-1]] * 2, strict=True) for entry in turn]
    retry = a[5]
    rewritten = json.loads(a[6].request_body)
    rewritten["messages"][2]["content"][0]["content"] = "a different tool result " * 20
    edited = exchange(rewritten["messages"][:-1] + [rewritten["messages"][-1]],
                      answer(text("ok"), tool_use("Read", {"path": "x.py"})))
    edited.request_body = json.dumps(rewritten).encode()
    cut_back = exchange(json.loads(a[3].request_body)["messages"][:3], answer(text("again")))
    return mixed + [retry, edited, cut_back, a[7]]


def _same(got: Any, want: Any) -> None:
    assert got.skeleton == want.skeleton
    assert got.pieces == want.pieces
    assert got.messages == want.messages
    assert got.message_texts == want.message_texts
    assert got.system == want.system and got.fields == want.fields and got.whole == want.whole


def _rebuilt(parts: Any) -> bytes:
    out, cursor = [], 0
    for offset, piece in parts.pieces:
        out += [parts.skeleton[cursor:offset], piece]
        cursor = offset
    return b"".join(out + [parts.skeleton[cursor:]])


def test_splitting_against_runs_gives_what_splitting_from_scratch_gives() -> None:
    cache = SplitCache()
    matched = 0
    for entry in _traffic():
        body = entry.request_body
        parts = split(body, cache)
        matched += parts.run is not None
        _same(parts, split(body))
        assert _rebuilt(parts) == body
    assert matched >= 18  # every turn from a conversation's third on found its run, not merely allowed to


@pytest.mark.parametrize("body", [
    '{"messages": [ {"role":"user","content":"' + "x" * 200 + '"} , 7 ,{"role":"user","content":"y"}]}',
    '{"messages":[{"role":"user","content":"' + "a" * 150 + '"},{"role":"user","content":"' + "b" * 150 + '"}],'
    '"messages":[{"role":"user","content":"' + "a" * 150 + '"}]}',
])
def test_odd_message_arrays_split_the_same_with_a_cache(body: str) -> None:
    cache = SplitCache()
    for _ in range(3):  # the second and third time, whatever was kept is offered
        _same(split(body, cache), split(body))


def test_names_and_conversation_keys_carried_by_runs_equal_fresh_ones() -> None:
    remembering = SqliteStoreWriter()
    for entry in _traffic():
        row = row_values(entry)
        read = remembering.read_request(entry)
        assert read is not None
        kept = remembering.prepare(entry, row_values(entry, decoded=read[0]), read)
        fresh = SqliteStoreWriter().prepare(entry, row)
        assert kept.values == fresh.values  # the recipe and the conversation key among them
        assert kept.keys == fresh.keys
        parts = split(entry.request_body)
        digests = [message_digest(t, v) for t, v in zip(parts.message_texts, parts.messages, strict=True)]
        assert kept.keys == prefix_keys(digests)
        assert set(fresh.content) <= set(kept.content)


def test_interleaved_conversations_come_back_byte_for_byte_and_thread_as_before(db) -> None:
    entries = _traffic()
    write_entries(db, entries)
    rows = stored_rows(db, entries)
    for entry in entries:
        row = rows[entry.id]
        assert row["request_body"] == entry.request_body.decode()
        assert "store_error" not in row
    sessions = len({row["session_id"] for row in rows.values()} - {None})  # the file holds these rows alone
    assert sessions >= 3  # three conversations stay three sessions (the rewritten one may start another)


def _recipe(version: int, skeleton: bytes, pieces: list[tuple[int, bytes]]) -> bytes:
    parts = [struct.pack("<BI", version, len(pieces)), skeleton]
    for offset, name in pieces:
        parts += [struct.pack("<I", offset), name]
    return b"".join(parts)


def test_every_recipe_version_is_read_and_checked() -> None:
    body = '{"model":"\u00e9t\u00e9 \u2603 \U0001f916","system":"' + "s" * 120 + '","max_tokens":1}'
    parts = split(body.encode())
    assert len(parts.pieces) == 1  # the system prompt, after non-ASCII text: bytes and characters differ
    store = {digest(t): t for t in [parts.skeleton] + [p for _, p in parts.pieces]}
    skeleton = digest(parts.skeleton)
    in_bytes = [(offset, digest(piece)) for offset, piece in parts.pieces]
    in_chars = [(len(parts.skeleton[:offset].decode()), name) for offset, name in in_bytes]

    v1 = _recipe(1, skeleton, in_chars)  # rows written long ago: checked against the whole body's digest
    assert rebuild(v1, store.__getitem__, digest(body.encode())) == body
    with pytest.raises(ContentError, match="digest"):
        rebuild(v1, store.__getitem__, digest(b"something else"))

    v2 = _recipe(2, skeleton, in_chars)  # each piece checked against its name, offsets in characters
    assert rebuild(v2, store.__getitem__, None) == body
    v3 = _recipe(3, skeleton, in_bytes)  # rows written now: offsets in bytes
    assert rebuild(v3, store.__getitem__, None) == body
    damaged = dict(store)
    damaged[in_bytes[0][1]] = b'"' + b"t" * 120 + b'"'
    for recipe in (v2, v3):
        with pytest.raises(ContentError, match="digest"):
            rebuild(recipe, damaged.__getitem__, None)
    with pytest.raises(ContentError, match="version 4"):
        rebuild(_recipe(4, skeleton, in_bytes), store.__getitem__, None)


def test_a_body_cut_inside_a_character_comes_back_as_its_row_showed_it(db) -> None:
    """The cap cuts bytes; the row's text ends in U+FFFD where a character was cut, stored or not."""
    from claude_proxy.requestlog.writer import SqliteRequestLog

    entry = conversation(2)[1]
    request = json.loads(entry.request_body)
    request["messages"][0]["content"] = "the snowman \u2603 " * 20
    body = json.dumps(request, ensure_ascii=False).encode()
    cap = body.rindex("\u2603".encode()) + 1
    entry.request_body = body
    log = SqliteRequestLog(db, max_body_bytes=cap)
    log.start()
    log.record(entry)
    log.close()
    row = stored_rows(db, [entry])[entry.id]
    assert row["request_body"] == body[:cap].decode("utf-8", errors="replace")
    assert row["request_body"].endswith("\ufffd") and row["request_truncated"] == 1
    assert "store_error" not in row


def test_past_its_budget_the_cache_forgets_the_conversation_met_least_recently() -> None:
    a, b, c = (conversation(4, opening=f"Conversation {name} starts with a long enough opening line " * 3)
               for name in "abc")
    cache = SplitCache()
    for entry in (a[0], a[1], b[0], b[1], a[2]):  # a's run is then the one met last
        assert split(entry.request_body, cache).run is not None or entry in (a[0], a[1], b[0], b[1])
    cache.RUN_BYTES = cache._run_bytes + 10  # room for the runs of a and b as they stand, no more
    for entry in (c[0], c[1]):  # c's run pushes the least recent one out: b's
        body = entry.request_body
        _same(split(body, cache), split(body))
    assert split(a[3].request_body, cache).run is not None
    assert split(b[2].request_body, cache).run is None
