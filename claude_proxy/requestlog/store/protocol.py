"""The trace store's interface: what the ``logs`` commands (and a viewer) read through.

`TraceStore` is the read side a second backend (Postgres) implements next to SQLite;
`TraceMaintenance` is retention. Rows come back as plain dicts with the column names of
`claude_proxy.requestlog.query` plus ``cost_usd``; bodies come back rebuilt, exactly as logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

GroupBy = Literal["model", "day", "session", "key"]


@dataclass(frozen=True)
class Filters:
    """Which rows a read covers; every field narrows it, None means any."""

    model: str | None = None
    status: str | None = None
    since: float | None = None
    until: float | None = None
    session: str | None = None
    key: str | None = None


@dataclass
class PruneResult:
    """What a prune removed and gave back."""

    rows: int = 0
    content: int = 0
    freed_bytes: int = 0
    size_before: int = 0
    size_after: int = 0


class Follower(Protocol):
    """The rows that land in the log from some moment on, each returned once (`logs tail`)."""

    def poll(self) -> list[dict[str, Any]]:
        """Rows matching the filters that became readable since the last poll, in the order they are numbered."""


class TraceStore(Protocol):
    """Reading the request log: rows, one row whole, sessions, search and usage."""

    def rows(self, filters: Filters, limit: int = 20) -> list[dict[str, Any]]:
        """The newest rows matching ``filters``, newest first, without bodies."""

    def row(self, ident: str) -> dict[str, Any]:
        """One row with its bodies rebuilt, by id or unique id prefix (`LogQueryError` otherwise)."""

    def follow(self, filters: Filters) -> Follower:
        """Start following the log at its newest row: each `Follower.poll` returns what landed since."""

    def sessions(self, filters: Filters, limit: int = 20) -> list[dict[str, Any]]:
        """Sessions, most recently active first: times, models, turns, tokens, cache hit ratio, cost, errors."""

    def session(self, session_id: str, *, bodies: bool = False) -> list[dict[str, Any]]:
        """A session's rows oldest first (a unique prefix of its id is enough)."""

    def search(self, text: str, filters: Filters, limit: int = 20) -> list[dict[str, Any]]:
        """Rows whose new messages or answer contain ``text`` (full-text), newest first."""

    def stats(self, filters: Filters, by: GroupBy = "model") -> dict[str, Any]:
        """Totals and one group per model, day, session or key: requests, errors, tokens, cost, latency."""

    def close(self) -> None:
        """Release the store."""


class TraceMaintenance(Protocol):
    """Retention: removing old rows and the content only they used."""

    def prune(self, *, max_age_days: float | None, max_size_mb: float | None,
              now: float | None = None) -> PruneResult:
        """Delete rows past the age, then the oldest until content fits the size; collect and vacuum."""

    def close(self) -> None:
        """Release the store."""
