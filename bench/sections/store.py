"""Section 7: the trace store on a Claude Code workload: log bytes on disk vs bytes through, and read times.

Entries go through the real writer (`SqliteRequestLog`: row building, content store,
threading, search index) into a fresh file; reads go through `SqliteTraceStore`, the
interface the ``logs`` commands use. Targets (issue 13): the log at most 10% of the bytes
that went through for a 50-turn session; the sessions list over 100,000 rows in 200 ms or
less; a 200-turn session read whole (bodies rebuilt) in 500 ms or less.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench import claudecode
from bench.sections.common import Check, Context, Section, log
from bench.stats import median
from claude_proxy.requestlog.entry import LogEntry, new_entry_id
from claude_proxy.requestlog.store.protocol import Filters
from claude_proxy.requestlog.store.sqlite import SqliteTraceStore
from claude_proxy.requestlog.writer import SqliteRequestLog

RATIO_TARGET = 0.10
SESSIONS_MS = 200.0
SESSION_VIEW_MS = 500.0


def _write(path: Path, entries: list[LogEntry]) -> float:
    """Write entries through the writer; the seconds it took from first record to drained."""
    log_ = SqliteRequestLog(path, batch_size=200, queue_size=1_000_000)
    log_.start()
    t0 = time.perf_counter()
    for entry in entries:
        log_.record(entry)
    log_.close()
    return time.perf_counter() - t0


def _disk(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def _timed(fn, runs: int = 5) -> float:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return median(times)


def _small_rows(sessions: int, turns: int) -> list[LogEntry]:
    """Many short sessions with small bodies: the sessions query reads metadata, not bodies."""
    out = []
    t0 = time.time() - sessions * turns
    for s in range(sessions):
        headers = {"x-api-key": f"sk-ant-key-{s % 7:04d}-XXXXXXXXXXXX", "x-claude-code-session-id": f"session-{s:06d}"}
        for t in range(turns):
            body = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 64,
                               "messages": [{"role": "user", "content": f"turn {t} of {s}"}]}).encode()
            answer = json.dumps({"id": "msg", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                                 "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
                                 "usage": {"input_tokens": 10, "output_tokens": 2,
                                           "cache_read_input_tokens": 100}}).encode()
            out.append(LogEntry(id=new_entry_id(), started_at=t0 + s * turns + t, method="POST",
                                path="/v1/messages", duration_ms=100.0, ttfb_ms=20.0, status=200,
                                request_headers=headers, response_headers={"content-type": "application/json"},
                                request_body=body, response_body=answer))
    return out


def run(ctx: Context) -> Section:
    section = Section("store", "7. Trace store (Claude Code workload)")
    section.columns = ["measure", "value"]
    quick = ctx.options.quick

    entries = claudecode.session(50)
    through = sum(len(e.request_body) + len(e.response_body) for e in entries)
    db = ctx.workdir / "session50.db"
    seconds = _write(db, entries)
    disk = _disk(db)
    ratio = disk / through
    log.info("50 turns: %d bytes through, %d on disk (%.1f%%)", through, disk, 100 * ratio)
    section.rows += [["50-turn session: bytes through (request + response bodies)", f"{through:,}"],
                     ["log file on disk (db + wal)", f"{disk:,} ({100 * ratio:.1f}%)"],
                     ["writer: rows per second on this workload", f"{len(entries) / seconds:,.0f}"]]
    section.checks.append(Check(f"log bytes on disk <= {RATIO_TARGET:.0%} of bytes through (50 turns)",
                                f"{100 * ratio:.1f}%", ratio <= RATIO_TARGET))

    long_db = ctx.workdir / "session200.db"
    long_session = claudecode.session(200, seed=14)
    _write(long_db, long_session)
    store = SqliteTraceStore(long_db)
    try:
        ident = long_session[0].request_headers["x-claude-code-session-id"]
        rows = store.session(ident, bodies=True)
        assert len(rows) == 200 and rows[-1]["request_body"] == long_session[-1].request_body.decode()
        view_ms = _timed(lambda: store.session(ident, bodies=True), runs=3)
    finally:
        store.close()
    section.rows.append(["200-turn session read with every body rebuilt (median ms)", f"{view_ms:.0f}"])
    section.checks.append(Check(f"200-turn session view <= {SESSION_VIEW_MS:.0f} ms", f"{view_ms:.0f} ms",
                                view_ms <= SESSION_VIEW_MS))

    sessions, turns = (200, 50) if quick else (2000, 50)
    many_db = ctx.workdir / "many.db"
    write_s = _write(many_db, _small_rows(sessions, turns))
    store = SqliteTraceStore(many_db)
    try:
        list_ms = _timed(lambda: store.sessions(Filters(), limit=50))
        rows_ms = _timed(lambda: store.rows(Filters(), limit=50))
    finally:
        store.close()
    count = sessions * turns
    section.rows += [[f"{count:,} small rows written (rows per second)", f"{count / write_s:,.0f}"],
                     [f"sessions list, newest 50 of {sessions:,} over {count:,} rows (median ms)", f"{list_ms:.1f}"],
                     [f"logs list, newest 50 of {count:,} rows (median ms)", f"{rows_ms:.1f}"]]
    section.checks.append(Check(f"sessions list over {count:,} rows <= {SESSIONS_MS:.0f} ms", f"{list_ms:.1f} ms",
                                list_ms <= SESSIONS_MS))
    section.data = {"through": through, "disk": disk, "ratio": ratio, "session_view_ms": view_ms,
                    "sessions_list_ms": list_ms, "rows": count}
    return section
