"""Writing rows into the trace store on PostgreSQL: the same content, sessions and search as on SQLite.

Rows are prepared as for SQLite (split, named; `SqliteStoreWriter.prepare` is independent
of the database), and new content is compressed here, on an insert thread. A batch is then
written in one transaction with few round trips: the rows and the new content are copied
(``COPY``: no statement per row) into temporary tables of the connection and moved from
there with ``INSERT ... SELECT``: content with ``ON CONFLICT DO NOTHING`` (so instances that
store the same system prompt at once never clash), rows in batch order with their search
column computed by Postgres; then the Task prompts. Each
row is threaded before the batch goes out; a row that continues an earlier row of the
same batch finds it in this writer's memory, as it would in the database. What threading
may need from the database is read for the whole batch in two queries (`_PgLookup.fetch`),
not one round trip per lookup; for each row only the keys threading reaches before one this
writer already knows (usually one).
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any

from claude_proxy.requestlog.row import COLUMNS
from claude_proxy.requestlog.store.content import pack_many
from claude_proxy.requestlog.store.pgschema import TABLE
from claude_proxy.requestlog.store.threads import Place, lookup_keys, place
from claude_proxy.requestlog.store.writing import (
    _AT,
    EXTRA_COLUMNS,
    KNOWN_LIMIT,
    Prepared,
    SqliteStoreWriter,
    index_text,
)

ROW_COLUMNS = COLUMNS + EXTRA_COLUMNS
_COLUMNS = ", ".join(ROW_COLUMNS)
# The connection's staging tables (temporary: each connection has its own, emptied at commit).
STAGING = (
    f"CREATE TEMP TABLE IF NOT EXISTS rows_in ON COMMIT DELETE ROWS AS "
    f"SELECT {_COLUMNS}, NULL::text AS fts_text, NULL::bigint AS n FROM {TABLE} WITH NO DATA",
    "CREATE TEMP TABLE IF NOT EXISTS content_in ON COMMIT DELETE ROWS AS "
    "SELECT name, data, size FROM content WITH NO DATA",
)
COPY_ROWS = f"COPY rows_in ({_COLUMNS}, fts_text, n) FROM STDIN"
COPY_CONTENT = "COPY content_in (name, data, size) FROM STDIN"
INSERT_ROWS = (f"INSERT INTO {TABLE} ({_COLUMNS}, fts) SELECT {_COLUMNS}, to_tsvector('simple', fts_text) "
               "FROM rows_in ORDER BY n ON CONFLICT (id) DO NOTHING")
INSERT_CONTENT = ("INSERT INTO content (name, data, size) SELECT name, data, size FROM content_in "
                  "ORDER BY name ON CONFLICT (name) DO NOTHING")
INSERT_SPAWN = ("INSERT INTO spawns (prompt, session_id, thread_id, row_id, started_at) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (prompt) DO UPDATE SET session_id = EXCLUDED.session_id, thread_id = EXCLUDED.thread_id, "
                "row_id = EXCLUDED.row_id, started_at = EXCLUDED.started_at")


def clean(value: Any) -> Any:
    """A value Postgres accepts: booleans as integers, text without NUL or lone surrogates."""
    if isinstance(value, bool):
        return int(value)
    if not isinstance(value, str):
        return value
    if "\x00" in value:
        value = value.replace("\x00", "\\u0000")
    if value.isascii():  # the usual case, and cheap to tell: no lone surrogate in it
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


class PgStoreWriter(SqliteStoreWriter):
    """The content, session and search side of writing batches to Postgres, from several insert threads.

    Each insert thread sends its batch on its own connection, so one batch's statements run
    while the next is threaded. Threading uses this writer's memory of the batches before
    (their rows may not be committed yet), so batches are threaded one at a time and in turn:
    a batch waits until the one handed over before it has been threaded (or given up, `skip`).
    Content two batches both send is stored by whichever commits first (the other waits for it,
    then does nothing); each batch sends its content in name order, so two never wait on each other in a circle.
    """

    PACK_WHEN_PREPARING = False  # the insert threads compress (see `SqliteStoreWriter`)
    TURN_SLICE = 1.0  # seconds between looks while a batch waits for its turn (the one before is retrying)

    def __init__(self) -> None:
        super().__init__()
        self._state = threading.Lock()  # this writer's memory (threads, spawns, known content)
        self._turns = threading.Condition()
        self._next_turn = 0
        self._done: set[int] = set()  # turns threaded or given up, past `_next_turn`
        self._spawned: dict[bytes, Place] = {}  # Task prompts threaded here (perhaps not committed yet)
        self._staged: weakref.WeakSet[Any] = weakref.WeakSet()  # connections whose staging tables exist

    def _staging(self, conn: Any) -> None:
        if conn not in self._staged:
            for statement in STAGING:
                conn.execute(statement)
            self._staged.add(conn)

    def begin(self, conn: Any) -> None:
        """Call first in each transaction: a prune since the last one makes remembered names unsafe."""
        if len(self.packed) > KNOWN_LIMIT:
            self.packed.clear()
        found = conn.execute("SELECT value FROM store_meta WHERE key = 'generation'").fetchone()
        generation = int(found[0]) if found else 0
        if generation != self.generation:
            self.known.clear()
            self.generation = generation

    def skip(self, turn: int) -> None:
        """Batch ``turn`` is threaded, or never will be: the next one may go."""
        with self._turns:
            if turn >= self._next_turn:
                self._done.add(turn)
            while self._next_turn in self._done:
                self._done.discard(self._next_turn)
                self._next_turn += 1
            self._turns.notify_all()

    def _wait_turn(self, turn: int | None) -> None:
        if turn is None:
            return
        with self._turns:
            while turn > self._next_turn:  # the thread with the batch before retries, with bounded waits
                self._turns.wait(self.TURN_SLICE)

    def rolled_back(self) -> None:
        with self._state:
            super().rolled_back()
            self._spawned.clear()
            self._staged = weakref.WeakSet()  # tables made in a transaction that rolled back went with it

    def insert_batch(self, conn: Any, rows: list[Prepared], turn: int | None = None) -> list[bytes]:
        """Write ``rows`` in the open transaction: content once, rows threaded and indexed, Task prompts.

        ``turn``: the batch's place in the order batches were handed over (None: no order to keep).
        Returns the names of the content sent: call `stored` with them once the transaction commits.
        """
        # Compressed here, on the insert thread, all at once (see `SqliteStoreWriter` and `pack_many`).
        content = _packed(_new_content(rows, self.known, {}))
        # The turn is awaited before the transaction reads anything: a prune waits for every
        # transaction that read store_meta, and one waiting here would hold it up (the batch
        # before this one may itself be queued behind the prune).
        self._wait_turn(turn)
        with self._state:
            self.begin(conn)  # a prune since the last batch makes the names known here unsafe
            values_list, spawn_rows = self._thread_rows(conn, rows)
            forgotten = _new_content(rows, self.known, content)  # what such a prune made this writer forget
        content.update(_packed(forgotten))
        if turn is not None:
            self.skip(turn)
        self._staging(conn)
        with conn.cursor() as cursor:
            with cursor.copy(COPY_ROWS) as copy:
                for n, values in enumerate(values_list):
                    values.append(n)
                    copy.write_row(values)
            cursor.execute(INSERT_ROWS)
            # Content last: what the batch before also sends waits here for that batch to commit,
            # after this one's rows (the costly part, indexing) went in alongside it.
            if content:
                with cursor.copy(COPY_CONTENT) as copy:
                    for item in content.values():
                        copy.write_row(item)
                cursor.execute(INSERT_CONTENT)  # in name order: see the class
            if spawn_rows:
                cursor.executemany(INSERT_SPAWN, sorted(spawn_rows, key=lambda row: row[0]))
        return list(content)

    def stored(self, names: list[bytes]) -> None:
        """Content committed: later batches need not send it (until a prune says otherwise)."""
        with self._state:
            self.known.update(names)
            self.packed.difference_update(names)
            if len(self.known) > KNOWN_LIMIT:
                self.known.clear()

    def _thread_rows(self, conn: Any, rows: list[Prepared]) -> tuple[list[list[Any]], list[tuple[Any, ...]]]:
        """Each row's values with its session, thread and parent, and the Task prompts its answer spawns."""
        at = {name: len(COLUMNS) + i for i, name in enumerate(EXTRA_COLUMNS)}
        lookup = _PgLookup(conn, self, self._spawned)
        lookup.fetch([p for p in rows if p.threaded])
        values_list, spawn_rows = [], []
        for prepared in rows:
            values = prepared.values
            row_id = values[0]
            fts_from = 0
            if prepared.threaded:
                where = place(row_id, prepared.header_session, prepared.messages, prepared.keys, lookup)
                values[at["session_id"]], values[at["thread_id"]], values[at["parent_id"]] = (
                    where.session_id, where.thread_id, where.parent_id)
                fts_from = where.continued
                values[at["fts_from"]] = fts_from
                self._remember(prepared.keys[-1], Place(where.session_id, where.thread_id, where.parent_id))
            text = index_text(prepared.messages, fts_from, prepared.answer)
            values_list.append([clean(v) for v in values] + [clean(text)])
            for prompt in prepared.spawns:
                if len(self._spawned) > 50_000:
                    self._spawned.clear()
                self._spawned[prompt] = Place(values[at["session_id"]], values[at["thread_id"]], row_id)
                spawn_rows.append((prompt, values[at["session_id"]], values[at["thread_id"]], row_id,
                                   values[_AT["started_at"]]))
        return values_list, spawn_rows


def _new_content(rows: list[Prepared], known: set[bytes], have: dict[bytes, Any]) -> dict[bytes, bytes]:
    """The rows' content that is neither ``known`` (stored) nor in ``have`` (being sent)."""
    new: dict[bytes, bytes] = {}
    for prepared in rows:
        for name, data in prepared.content.items():
            if name not in known and name not in have and name not in new:
                new[name] = data
    return new


def _packed(new: dict[bytes, bytes]) -> dict[bytes, tuple[bytes, bytes, int]]:
    """(name, stored form, size) for each piece of ``new``, compressed in one call (`pack_many`)."""
    return {name: (name, packed, len(data))
            for (name, data), packed in zip(new.items(), pack_many(list(new.values())), strict=True)}


class _PgLookup:
    """Threading's lookups: this writer's memory and this batch first, then what `fetch` read from the database.

    `fetch` reads, for each row, only the keys `place` reaches before one this writer already
    knows (usually just the retry's); a key it did not read is asked of the database when
    `place` gets to it after all, so the answers are those of a lookup per key.
    """

    def __init__(self, conn: Any, writer: PgStoreWriter, spawns: dict[bytes, Place]) -> None:
        self.conn = conn
        self.writer = writer
        self.spawns = spawns
        self._conversations: dict[bytes, Place | None] = {}
        self._prompts: dict[bytes, Place | None] = {}

    def fetch(self, rows: list[Prepared]) -> None:
        """Read every conversation and Task prompt these rows are likely to look up, in two queries."""
        conversations: set[bytes] = set()
        prompts: set[bytes] = set()
        batch: dict[bytes, str | None] = {}  # the keys this batch's rows will be remembered by: their session header
        for prepared in rows:
            settled = functools.partial(self._settled, header=prepared.header_session, batch=batch)
            keys, first = lookup_keys(prepared.messages, prepared.keys, settled)
            conversations.update(keys)
            prompts.update(first)
            batch[prepared.keys[-1]] = prepared.header_session
        self._conversations.update(dict.fromkeys(conversations))
        self._prompts.update(dict.fromkeys(prompts))
        if conversations:
            for key, session_id, thread_id, parent_id in self.conn.execute(
                    f"SELECT DISTINCT ON (conv_key) conv_key, session_id, thread_id, parent_id FROM {TABLE} "
                    "WHERE conv_key = ANY(%s) ORDER BY conv_key, seq DESC", (list(conversations),)):
                if thread_id is not None:
                    self._conversations[bytes(key)] = Place(session_id, thread_id, parent_id)
        if prompts:
            for prompt, session_id, thread_id, row_id in self.conn.execute(
                    "SELECT prompt, session_id, thread_id, row_id FROM spawns WHERE prompt = ANY(%s)",
                    (list(prompts),)):
                self._prompts[bytes(prompt)] = Place(session_id, thread_id, row_id)

    def _settled(self, key: bytes, header: str | None, batch: dict[bytes, str | None]) -> bool:
        """Whether `place` will stop at ``key`` from memory: a row known here, in the session the header names.

        A row of this batch is remembered before the next is placed; its session is its header's
        when it has one (`place` never gives a row with a header another session).
        """
        known = self.writer._threads.get(key)
        if known is not None and (header is None or known.session_id == header):
            return True
        if key in batch:
            return header is None or batch[key] == header
        return False

    def conversation(self, key: bytes) -> Place | None:
        known = self.writer._threads.get(key)
        if known is not None:
            return known
        if key not in self._conversations:
            found = self.conn.execute(f"SELECT session_id, thread_id, parent_id FROM {TABLE} WHERE conv_key = %s "
                                      "ORDER BY seq DESC LIMIT 1", (key,)).fetchone()
            self._conversations[key] = Place(*found) if found and found[1] is not None else None
        return self._conversations[key]

    def spawn(self, prompt: bytes) -> Place | None:
        if prompt in self.spawns:
            return self.spawns[prompt]
        if prompt not in self._prompts:
            found = self.conn.execute("SELECT session_id, thread_id, row_id FROM spawns WHERE prompt = %s",
                                      (prompt,)).fetchone()
            self._prompts[prompt] = Place(*found) if found else None
        return self._prompts[prompt]
