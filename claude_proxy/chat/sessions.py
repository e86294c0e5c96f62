"""Saved conversations in SQLite, so `--continue`, `--resume ID` and `--list` work.

One row per conversation holding its history as JSON, rewritten after every turn:
``messages`` is what the model sees next, ``archive`` what compaction replaced, so the
full history is kept. The async methods run the SQLite work in a thread so the event
loop never blocks on disk.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from claude_proxy.chat.conversation import Conversation
from claude_proxy.pricing import CostTracker

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    cwd TEXT NOT NULL,
    model TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    messages TEXT NOT NULL,
    usage TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS sessions_cwd_updated ON sessions (cwd, updated);
"""


class SessionNotFound(LookupError):
    """No saved session matches the id (or the prefix matches several)."""


class SessionStoreError(Exception):
    """The sessions database cannot be opened, read or written; the message says which file."""


@dataclass
class SessionInfo:
    """One line of `claude-proxy chat --list`."""

    id: str
    cwd: str
    model: str
    title: str
    created: float
    updated: float
    messages: int


class SessionStore:
    """The sessions database; every public coroutine runs its SQLite work in a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        conn.executescript(SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
        if "archive" not in columns:  # a file from before compaction
            conn.execute("ALTER TABLE sessions ADD COLUMN archive TEXT NOT NULL DEFAULT '[]'")
        return conn

    def _guarded(self, work: Callable[[], T]) -> T:
        try:
            return work()
        except (sqlite3.Error, OSError) as exc:
            raise SessionStoreError(f"sessions database {self.path}: {exc}") from exc

    def _save_sync(self, conversation: Conversation) -> None:
        now = time.time()
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO sessions (id, cwd, model, title, created, updated, messages, usage, archive)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET model=excluded.model, title=excluded.title,"
                " updated=excluded.updated, messages=excluded.messages, usage=excluded.usage,"
                " archive=excluded.archive",
                (conversation.id, conversation.cwd, conversation.model, conversation.title, now, now,
                 json.dumps(conversation.messages), json.dumps(conversation.costs.to_dict()),
                 json.dumps(conversation.archive)),
            )
        conn.close()

    def _load_sync(self, session_id: str) -> Conversation:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, cwd, model, title, messages, usage, archive FROM sessions WHERE id = ? OR id LIKE ?",
                (session_id, session_id.replace("%", "").replace("_", "") + "%"),
            ).fetchall()
        conn.close()
        exact = [r for r in rows if r[0] == session_id]
        rows = exact or rows
        if not rows:
            raise SessionNotFound(f"no saved session {session_id!r} (see `claude-proxy chat --list`)")
        if len(rows) > 1:
            raise SessionNotFound(f"session id {session_id!r} is ambiguous ({len(rows)} match)")
        return _row_to_conversation(rows[0])

    def _latest_sync(self, cwd: str) -> Conversation | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT id, cwd, model, title, messages, usage, archive FROM sessions WHERE cwd = ?"
                " ORDER BY updated DESC LIMIT 1", (cwd,),
            ).fetchone()
        conn.close()
        return _row_to_conversation(row) if row else None

    def _list_sync(self, limit: int = 50) -> list[SessionInfo]:
        if not self.path.exists():
            return []
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, cwd, model, title, created, updated, json_array_length(messages)"
                " FROM sessions ORDER BY updated DESC LIMIT ?", (limit,),
            ).fetchall()
        conn.close()
        return [SessionInfo(*row) for row in rows]

    def save_sync(self, conversation: Conversation) -> None:
        self._guarded(lambda: self._save_sync(conversation))

    def load_sync(self, session_id: str) -> Conversation:
        """Load by id or by a unique id prefix."""
        return self._guarded(lambda: self._load_sync(session_id))

    def latest_sync(self, cwd: str) -> Conversation | None:
        return self._guarded(lambda: self._latest_sync(cwd))

    def list_sync(self, limit: int = 50) -> list[SessionInfo]:
        return self._guarded(lambda: self._list_sync(limit))

    async def save(self, conversation: Conversation) -> None:
        await asyncio.to_thread(self.save_sync, conversation)

    async def load(self, session_id: str) -> Conversation:
        return await asyncio.to_thread(self.load_sync, session_id)

    async def latest(self, cwd: str) -> Conversation | None:
        return await asyncio.to_thread(self.latest_sync, cwd)

    async def list(self, limit: int = 50) -> list[SessionInfo]:
        return await asyncio.to_thread(self.list_sync, limit)


def _row_to_conversation(row: tuple) -> Conversation:
    session_id, cwd, model, title, messages, usage, archive = row
    return Conversation(
        id=session_id, cwd=cwd, model=model, title=title,
        messages=json.loads(messages), costs=CostTracker.from_dict(json.loads(usage)),
        archive=json.loads(archive),
    )
