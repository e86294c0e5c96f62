"""Section 8: the request log on Postgres vs SQLite, on the Claude Code workload, in one run.

The same entries (four 50-turn Claude Code sessions, ~110 KB requests) go through the real
writers, `SqliteRequestLog` into a fresh file and `PostgresRequestLog` into a fresh database
of a throw-away cluster on 127.0.0.1 (fsync off, as for a test; a real server's durability
settings cost more). Reported: rows written per second from first record to drained, and
bytes stored per row (file size; Postgres: the tables' total relation size). Target
(issue 14): the Postgres log keeps up with the proxy's own maximum request rate on this
machine, taken from section 1 when it ran in the same invocation.
"""

from __future__ import annotations

import time

from bench import claudecode
from bench.sections.common import Check, Context, Section, log
from claude_proxy.requestlog.entry import LogEntry
from claude_proxy.requestlog.pglog import PostgresRequestLog
from claude_proxy.requestlog.writer import SqliteRequestLog

SESSIONS = 4
TURNS = 50


def _entries() -> list[LogEntry]:
    out: list[LogEntry] = []
    for n in range(SESSIONS):
        out += claudecode.session(TURNS, seed=100 + n)
    return out


def _drain(log_: SqliteRequestLog, entries: list[LogEntry]) -> float:
    log_.start()
    t0 = time.perf_counter()
    for entry in entries:
        log_.record(entry)
    log_.close()
    return time.perf_counter() - t0


def _pg_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT sum(pg_total_relation_size(c)) FROM unnest(ARRAY['requests', 'content', "
                           "'spawns']::regclass[]) AS c").fetchone()
    return int(row[0] or 0)


def run(ctx: Context, earlier: dict[str, Section] | None = None) -> Section:
    section = Section("pglog", "8. Request log on Postgres vs SQLite (Claude Code workload)")
    section.columns = ["log", "rows/s", "bytes/row", "rows"]
    entries = _entries()
    through = sum(len(e.request_body) + len(e.response_body) for e in entries)
    db = ctx.workdir / "log.db"
    sqlite_s = _drain(SqliteRequestLog(db, queue_size=1_000_000), entries)
    sqlite_bytes = sum(p.stat().st_size for p in db.parent.glob("log.db*"))
    section.rows.append(["SQLite", f"{len(entries) / sqlite_s:,.0f}", f"{sqlite_bytes / len(entries):,.0f}",
                         str(len(entries))])
    try:
        from tests.support.services import PostgresServer

        server = PostgresServer()
    except BaseException as exc:  # pytest's skip outside pytest, or no server programs
        section.notes.append(f"Postgres not measured: {exc}")
        section.checks.append(Check("Postgres log keeps up with the proxy's request rate", "not measured", None))
        return section
    ctx.stack.callback(server.remove)
    server.start()
    url = server.create_database("bench")
    pg_log = PostgresRequestLog(url, queue_size=1_000_000)
    pg_s = _drain(pg_log, entries)
    assert pg_log.written == len(entries), f"{pg_log.written} of {len(entries)} rows written"
    pg_bytes = _pg_bytes(url)
    pg_rate = len(entries) / pg_s
    section.rows.append(["Postgres", f"{pg_rate:,.0f}", f"{pg_bytes / len(entries):,.0f}", str(len(entries))])
    section.notes.append(f"{len(entries)} rows, {through / len(entries):,.0f} bytes through per row "
                         "(request + response bodies)")
    proxy = ((earlier or {}).get("nonstream") or Section("", "")).data.get("targets", {}).get("claude-proxy")
    rate = proxy.get("rps") if proxy else None
    if rate:
        section.checks.append(Check(f"Postgres log rows/s >= the proxy's own req/s ({rate:,.0f}, section 1)",
                                    f"{pg_rate:,.0f}", pg_rate >= rate))
    else:
        section.checks.append(Check("Postgres log rows/s >= the proxy's own req/s (run with section 1)",
                                    f"{pg_rate:,.0f} rows/s", None))
    log.info("Postgres %.0f rows/s, SQLite %.0f rows/s", pg_rate, len(entries) / sqlite_s)
    section.data = {"rows": len(entries), "sqlite_rows_s": len(entries) / sqlite_s, "pg_rows_s": pg_rate,
                    "sqlite_bytes_per_row": sqlite_bytes / len(entries), "pg_bytes_per_row": pg_bytes / len(entries)}
    return section
