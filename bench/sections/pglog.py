"""Section 9: the request log on Postgres vs SQLite, on the Claude Code workload, in one run.

The same entries (twenty 50-turn Claude Code sessions, ~110-180 KB requests and streamed
answers) go through the real writers, `SqliteRequestLog` into a fresh file and
`PostgresRequestLog` into a fresh database of a throw-away cluster on 127.0.0.1 (fsync off,
as for a test; a real server's durability settings cost more). Each writer is opened and
warmed with one short session first, so the figure is its steady rate, not its start-up.
Reported: rows written per second from the first record to drained, the writer's CPU per
row, Postgres's own CPU per row (its server processes), and bytes stored per row (file size;
Postgres: the tables' total relation size). The CPU per row gives the most rows per second
this machine's cores could take even with every one of them busy: a bound no tuning of
the pipeline passes, only less work per row.
Target (issue 14): the Postgres log keeps up with the proxy's own maximum request rate on
this machine: the rate of section 8 (Claude Code requests through the proxy) when it ran
in the same invocation, else section 1's.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable

from bench import claudecode
from bench.procs import tree_cpu_seconds
from bench.sections.common import Check, Context, Section, log
from claude_proxy.requestlog.entry import LogEntry
from claude_proxy.requestlog.pglog import PostgresRequestLog
from claude_proxy.requestlog.writer import SqliteRequestLog

SESSIONS = 20
TURNS = 50
WARM_TURNS = 5


def _entries(sessions: int, turns: int, seed: int) -> list[LogEntry]:
    out: list[LogEntry] = []
    for n in range(sessions):
        out += claudecode.session(turns, seed=seed + n)
    return out


def _drain(log_: SqliteRequestLog, warm: list[LogEntry], entries: list[LogEntry],
           other: Callable[[], float] = lambda: 0.0) -> tuple[float, float, float]:
    """(seconds, CPU seconds of this process, of ``other``'s) from the first record to drained, after a warm-up."""
    log_.start()
    for entry in warm:
        log_.record(entry)
    deadline = time.monotonic() + 60
    while log_.written < len(warm) and time.monotonic() < deadline:
        time.sleep(0.01)
    t0, c0, o0 = time.perf_counter(), time.process_time(), other()
    for entry in entries:
        log_.record(entry)
    log_.close()
    return time.perf_counter() - t0, time.process_time() - c0, other() - o0


def _pg_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT sum(pg_total_relation_size(c)) FROM unnest(ARRAY['requests', 'content', "
                           "'spawns']::regclass[]) AS c").fetchone()
    return int(row[0] or 0)


def run(ctx: Context, earlier: dict[str, Section] | None = None) -> Section:
    section = Section("pglog", "9. Request log on Postgres vs SQLite (Claude Code workload)")
    section.columns = ["log", "rows/s", "writer CPU ms/row", "server CPU ms/row", "bytes/row", "rows"]
    sessions = 4 if ctx.options.quick else SESSIONS
    entries = _entries(sessions, TURNS, seed=100)
    warm = _entries(1, WARM_TURNS, seed=99)
    through = sum(len(e.request_body) + len(e.response_body) for e in entries)
    db = ctx.workdir / "log.db"
    sqlite_log = SqliteRequestLog(db, queue_size=1_000_000)
    sqlite_s, sqlite_cpu, _ = _drain(sqlite_log, warm, entries)
    assert sqlite_log.written == len(warm) + len(entries), f"{sqlite_log.written} rows written"
    sqlite_bytes = sum(p.stat().st_size for p in db.parent.glob("log.db*"))
    section.rows.append(["SQLite", f"{len(entries) / sqlite_s:,.0f}", f"{sqlite_cpu * 1000 / len(entries):.2f}", "-",
                         f"{sqlite_bytes / len(entries):,.0f}", str(len(entries))])
    try:
        from tests.support.services import PostgresServer

        server = PostgresServer()
    except BaseException as exc:  # pytest's skip outside pytest, or no server programs
        section.notes.append(f"Postgres not measured: {exc}")
        section.checks.append(Check("Postgres log keeps up with the proxy's request rate", "not measured", None))
        return section
    ctx.stack.callback(server.remove)
    server.start()
    assert server.proc is not None
    url = server.create_database("bench")
    pg_log = PostgresRequestLog(url, queue_size=1_000_000)
    pg_s, pg_cpu, server_cpu = _drain(pg_log, warm, entries, functools.partial(tree_cpu_seconds, server.proc.pid))
    assert pg_log.written == len(warm) + len(entries), f"{pg_log.written} of {len(entries)} rows written"
    pg_bytes = _pg_bytes(url)
    pg_rate = len(entries) / pg_s
    section.rows.append(["Postgres", f"{pg_rate:,.0f}", f"{pg_cpu * 1000 / len(entries):.2f}",
                         f"{server_cpu * 1000 / len(entries):.2f}", f"{pg_bytes / len(entries):,.0f}",
                         str(len(entries))])
    section.notes.append(f"{len(entries)} rows ({sessions} sessions of {TURNS} turns), "
                         f"{through / len(entries):,.0f} bytes through per row (request + response bodies); "
                         "writer CPU is the writing process's (SQLite runs in it); "
                         "server CPU is that of Postgres's own processes")
    cores = os.cpu_count() or 1
    per_row = (pg_cpu + server_cpu) / len(entries)
    ceiling = cores / per_row if per_row else 0.0
    section.notes.append(f"Postgres log: {per_row * 1000:.2f} ms of CPU per row, writer and server together: "
                         f"at most {ceiling:,.0f} rows/s on this machine's {cores} cores with all of them busy")
    rate, source = None, ""
    for key, label in (("claudecode", "section 8, Claude Code requests"), ("nonstream", "section 1")):
        proxy = ((earlier or {}).get(key) or Section("", "")).data.get("targets", {}).get("claude-proxy")
        if proxy and proxy.get("rps"):
            rate, source = proxy["rps"], label
            if proxy.get("cpu_us_per_request"):
                section.notes.append(f"the proxy ({label}) used {proxy['cpu_us_per_request'] / 1000:.2f} ms of CPU "
                                     "per request, its log included")
            break
    if rate:
        section.checks.append(Check(f"Postgres log rows/s >= the proxy's own req/s ({rate:,.0f}, {source})",
                                    f"{pg_rate:,.0f}", pg_rate >= rate))
    else:
        section.checks.append(Check("Postgres log rows/s >= the proxy's own req/s (run it with section 8)",
                                    f"{pg_rate:,.0f} rows/s", None))
    log.info("Postgres %.0f rows/s, SQLite %.0f rows/s", pg_rate, len(entries) / sqlite_s)
    section.data = {"rows": len(entries), "sqlite_rows_s": len(entries) / sqlite_s, "pg_rows_s": pg_rate,
                    "sqlite_cpu_ms_per_row": sqlite_cpu * 1000 / len(entries),
                    "pg_cpu_ms_per_row": pg_cpu * 1000 / len(entries), "compared_with": rate,
                    "pg_server_cpu_ms_per_row": server_cpu * 1000 / len(entries), "pg_ceiling_rows_s": ceiling,
                    "sqlite_bytes_per_row": sqlite_bytes / len(entries), "pg_bytes_per_row": pg_bytes / len(entries)}
    return section
