"""Which trace store a log target names: a ``postgresql://`` URL is the log on Postgres, anything else a file.

The one place the ``logs`` commands, ``logs ui`` and the viewer under ``serve`` turn
``--log-db`` or the ``log:`` settings into a store; the backends' modules are imported only
when chosen, so opening a SQLite log never loads psycopg.
"""

from __future__ import annotations

from pathlib import Path

from claude_proxy.pricing import DEFAULT, PriceTable
from claude_proxy.requestlog.query import LogQueryError
from claude_proxy.requestlog.store.pgschema import is_postgres
from claude_proxy.requestlog.store.protocol import TraceMaintenance, TraceStore
from claude_proxy.secrets import mask_url


def describe(target: str | Path) -> str:
    """The target as messages show it: a file's path, or the URL with its password masked."""
    return mask_url(str(target)) if is_postgres(str(target)) else str(target)


def open_trace_store(target: str | Path, prices: PriceTable = DEFAULT) -> TraceStore:
    """The store reading ``target`` (`LogQueryError` when it cannot be opened or is not a log)."""
    if is_postgres(str(target)):
        from claude_proxy.requestlog.store.postgres import PostgresTraceStore

        return PostgresTraceStore(str(target), prices)
    from claude_proxy.requestlog.store.sqlite import SqliteTraceStore

    return SqliteTraceStore(Path(target).expanduser(), prices)


def open_maintenance(target: str | Path, *, busy_timeout: float = 10.0) -> TraceMaintenance:
    """Retention for ``target``; a missing log is a `LogQueryError`, never a new empty one."""
    if is_postgres(str(target)):
        from claude_proxy.requestlog.store.pgretention import PostgresRetention

        return PostgresRetention(str(target))
    from claude_proxy.requestlog.store.retention import SqliteRetention

    path = Path(target).expanduser()
    if not path.is_file():
        raise LogQueryError(f"no request log at {path}")
    return SqliteRetention(path, busy_timeout=busy_timeout)
