"""Writing rows into the trace store's SQLite file: content once, sessions threaded, search indexed.

The writer thread calls `prepare` for each row outside any transaction (splitting,
hashing and compressing are the costly part, and happen there, in the writer process),
then `insert` inside its ``BEGIN IMMEDIATE`` batch. Content already stored is neither
compressed nor written again: the names this writer has seen stay in memory, forgotten
whenever a prune (which may delete content) bumps the store's generation.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from claude_proxy.requestlog import facts
from claude_proxy.requestlog.entry import LogEntry
from claude_proxy.requestlog.jsontext import loads
from claude_proxy.requestlog.row import COLUMNS, PARSE_LIMIT, Decoded
from claude_proxy.requestlog.schema import TABLE
from claude_proxy.requestlog.store.content import block_text, digest, message_text, pack, recipe
from claude_proxy.requestlog.store.naming import conversation_keys, piece_names
from claude_proxy.requestlog.store.pieces import MIN_PIECE, Split, SplitCache, split
from claude_proxy.requestlog.store.threads import Place, place, spawned_prompts

logger = logging.getLogger(__name__)

EXTRA_COLUMNS: tuple[str, ...] = (
    "session_id", "thread_id", "parent_id", "conv_key", "api_key", "cache_creation_1h_tokens", "ratelimit",
    "request_recipe", "request_digest", "response_ref", "fts_from", "chunk_times",
)
ALL_COLUMNS = COLUMNS + EXTRA_COLUMNS
INSERT = (f"INSERT OR REPLACE INTO {TABLE} ({', '.join(ALL_COLUMNS)}) "
          f"VALUES ({', '.join('?' for _ in ALL_COLUMNS)})")
_AT = {name: i for i, name in enumerate(COLUMNS)}
MAX_INDEXED = 64 * 1024
KNOWN_LIMIT = 200_000


@dataclass
class Prepared:
    """One row ready to insert: its column values, the content it needs and how to thread it."""

    values: list[Any]
    content: dict[bytes, bytes] = field(default_factory=dict)   # name -> the content
    packed: dict[bytes, tuple[bytes, int]] = field(default_factory=dict)  # name -> (stored form, size)
    header_session: str | None = None
    messages: list[Any] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)
    spawns: list[bytes] = field(default_factory=list)
    answer: Any = None
    threaded: bool = False


def index_text(messages: list[Any], start: int, answer: Any) -> str:
    """What the search index holds for a row: the messages it added and its answer's words."""
    parts = [message_text(m) for m in messages[start:]]
    if isinstance(answer, dict):
        parts.append(block_text(answer.get("content")))
    text = "\n".join(p for p in parts if p)[:MAX_INDEXED]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate a client sent: the index gets U+FFFD, the row its exact bytes
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


class SqliteStoreWriter:
    """The content, session and search side of inserting rows (one per writer thread)."""

    # Compress new content while preparing a row, outside the transaction (SQLite holds its
    # write lock for the whole of it); a writer whose inserts run on a thread of their own
    # compresses there instead (zstd lets go of the GIL, so that overlaps the next batch's preparing).
    PACK_WHEN_PREPARING = True

    def __init__(self) -> None:
        self.known: set[bytes] = set()
        self.packed: set[bytes] = set()  # compressed by `prepare` and not yet stored (the rows carry the bytes)
        self.generation: int | None = None
        self._threads: dict[bytes, Place] = {}
        self._split_cache = SplitCache()
        self._names: dict[bytes, bytes] = {}  # a piece -> its name: the cache's pieces come back as these objects

    def _keep(self, prepared: Prepared, data: bytes) -> bytes:
        name = self._names.get(data)
        if name is None:
            name = digest(data)
            if len(data) >= MIN_PIECE:
                if len(self._names) >= KNOWN_LIMIT // 10:
                    self._names.clear()
                self._names[data] = name
        prepared.content[name] = data
        if self.PACK_WHEN_PREPARING and name not in self.known and name not in self.packed:
            prepared.packed[name] = (pack(data), len(data))
            self.packed.add(name)
        return name

    def read_request(self, entry: LogEntry) -> tuple[Decoded, Split] | None:
        """The request body split once, for `row_values` and then `prepare` (None: too big to parse)."""
        body = entry.request_body
        if not body or len(body) > PARSE_LIMIT:
            return None
        parts = split(body, self._split_cache)
        # The fields count only where a whole parse of the bytes would have found them too.
        return Decoded(body, parts.fields if parts.whole else None, []), parts

    def prepare(self, entry: LogEntry, row: tuple[Any, ...], read: tuple[Decoded, Split] | None = None) -> Prepared:
        """Column values and content for ``row``; runs outside the transaction.

        ``read``: what `read_request` made of this entry, used when the row kept those very bytes.
        """
        values = list(row) + [None] * len(EXTRA_COLUMNS)
        out = Prepared(values, header_session=facts.session_header(entry.request_headers))
        extra = dict.fromkeys(EXTRA_COLUMNS)
        extra["api_key"] = facts.key_hint(entry.request_headers)
        extra["ratelimit"] = facts.ratelimit(entry.response_headers)
        if entry.stream and entry.response_times:
            extra["chunk_times"] = json.dumps(entry.response_times, separators=(",", ":"))
        message_json = row[_AT["message"]]
        if message_json:
            given = read[0].answer if read is not None else []
            if given and given[0][0] is message_json:  # the very text row_values made of this answer
                out.answer = given[0][1]
            else:
                try:
                    out.answer = loads(message_json)  # json.loads' value, parsed faster
                except ValueError:
                    out.answer = None
            extra["cache_creation_1h_tokens"] = facts.long_cache_writes(out.answer)
            out.spawns = spawned_prompts(out.answer)
        request = row[_AT["request_body"]]
        if request is not None:
            if read is not None and read[0].body is request:
                parts = read[1]
            else:  # masked or cut: split what the row keeps (text as UTF-8; a lone surrogate raises)
                parts = split(request if isinstance(request, bytes) else request.encode("utf-8"), self._split_cache)
            skeleton = self._keep(out, parts.skeleton)
            names = piece_names(parts, lambda data: self._keep(out, data), out.content)
            # Each piece is checked against its name on the way back.
            extra["request_recipe"] = recipe(skeleton, [(at, name) for (at, _), name in
                                                        zip(parts.pieces, names, strict=True)])
            values[_AT["request_body"]] = None
            if row[_AT["method"]] == "POST" and str(row[_AT["path"]]).split("?")[0] == "/v1/messages" \
                    and parts.messages:
                out.threaded = True
                out.messages = parts.messages
                out.keys = conversation_keys(parts, names)
                extra["conv_key"] = out.keys[-1]
        response = row[_AT["response_body"]]
        if response is not None:
            extra["response_ref"] = self._keep(out, response.encode("utf-8"))
            values[_AT["response_body"]] = None
        if not out.threaded:
            extra["session_id"] = out.header_session
        for i, name in enumerate(EXTRA_COLUMNS):
            values[len(COLUMNS) + i] = extra[name]
        return out

    def begin(self, conn: sqlite3.Connection) -> None:
        """Call first in each transaction: a prune since the last one makes remembered names unsafe."""
        if len(self.packed) > KNOWN_LIMIT:
            self.packed.clear()
        found = conn.execute("SELECT value FROM store_meta WHERE key = 'generation'").fetchone()
        generation = int(found[0]) if found else 0
        if generation != self.generation:
            self.known.clear()
            self.generation = generation

    def insert(self, conn: sqlite3.Connection, prepared: Prepared) -> None:
        """Insert one prepared row (its content, its place, its search text) in the open transaction."""
        values = prepared.values
        for name, data in prepared.content.items():
            if name in self.known:
                continue
            packed = prepared.packed.get(name)
            if packed is None:  # another row of the batch packed it, or a prune made this writer forget it
                packed = (pack(data), len(data))
            conn.execute("INSERT OR IGNORE INTO content (name, data, size) VALUES (?, ?, ?)", (name, *packed))
            self.known.add(name)
            self.packed.discard(name)
        if len(self.known) > KNOWN_LIMIT:
            self.known.clear()
        at = {name: len(COLUMNS) + i for i, name in enumerate(EXTRA_COLUMNS)}
        row_id = values[0]
        fts_from = 0
        if prepared.threaded:
            where = place(row_id, prepared.header_session, prepared.messages, prepared.keys, _Lookup(conn, self))
            values[at["session_id"]], values[at["thread_id"]], values[at["parent_id"]] = (
                where.session_id, where.thread_id, where.parent_id)
            fts_from = where.continued
            values[at["fts_from"]] = fts_from
            self._remember(prepared.keys[-1], Place(where.session_id, where.thread_id, where.parent_id))
        cursor = conn.execute(INSERT, values)
        # Only rows whose request is in the store are indexed: a prune rebuilds the same text to unindex them.
        text = index_text(prepared.messages, fts_from, prepared.answer) if values[at["request_recipe"]] else ""
        if text:
            conn.execute(f"INSERT INTO {TABLE}_fts (rowid, text) VALUES (?, ?)", (cursor.lastrowid, text))
        for prompt in prepared.spawns:
            conn.execute("INSERT OR REPLACE INTO spawns (prompt, session_id, thread_id, row_id, started_at) "
                         "VALUES (?, ?, ?, ?, ?)", (prompt, values[at["session_id"]], values[at["thread_id"]],
                                                    row_id, values[_AT["started_at"]]))

    def rolled_back(self) -> None:
        """Forget what a failed transaction claimed to have stored."""
        self.known.clear()
        self.packed.clear()
        self._threads.clear()
        self.generation = None

    def fallback(self, row: tuple[Any, ...]) -> Prepared:
        """A row kept as plain columns when preparing it failed: no row is ever lost to the store."""
        values = list(row) + [None] * len(EXTRA_COLUMNS)
        body = values[_AT["request_body"]]
        if isinstance(body, bytes):  # the bytes the writer meant to split: kept as the text a row holds
            values[_AT["request_body"]] = body.decode("utf-8", errors="replace")
        return Prepared(values)

    def _remember(self, key: bytes, where: Place) -> None:
        if len(self._threads) > 50_000:
            self._threads.clear()
        self._threads[key] = where


class _Lookup:
    """Threading's lookups: this writer's memory first, then the file (other workers write it too)."""

    def __init__(self, conn: sqlite3.Connection, writer: SqliteStoreWriter) -> None:
        self.conn = conn
        self.writer = writer

    def conversation(self, key: bytes) -> Place | None:
        known = self.writer._threads.get(key)
        if known is not None:
            return known
        found = self.conn.execute(f"SELECT session_id, thread_id, parent_id FROM {TABLE} WHERE conv_key = ? "
                                  "ORDER BY rowid DESC LIMIT 1", (key,)).fetchone()
        return Place(found[0], found[1], found[2]) if found and found[1] is not None else None

    def spawn(self, prompt: bytes) -> Place | None:
        found = self.conn.execute("SELECT session_id, thread_id, row_id FROM spawns WHERE prompt = ?",
                                  (prompt,)).fetchone()
        return Place(found[0], found[1], found[2]) if found else None
