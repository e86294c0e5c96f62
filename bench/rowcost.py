"""`python -m bench.rowcost`: the request-log writer's CPU per entry, part by part, in one process.

The writer child (`logwriter`) decodes frames from its pipe, builds a row per entry
(`logrow.build_row`: parse, mask, assemble, cut) and inserts the rows a batch per
transaction. This times each of those steps on typical entries, without processes or
pipes, so a change to one step shows up on its own; ``--sqlite`` breaks the insert down
further (indexes, data volume, binding, transaction size) on scratch copies of the
schema. `python -m bench.logcost` measures the real child, process overhead included.
"""

from __future__ import annotations

import argparse
import email.utils
import itertools
import resource
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from bench import logcost, payloads
from claude_proxy.requestlog import wire as logwire
from claude_proxy.requestlog.entry import LogEntry
from claude_proxy.requestlog.row import COLUMNS
from claude_proxy.requestlog.schema import TABLE, connect, migrate
from claude_proxy.requestlog.writer import SqliteRequestLog

try:
    from claude_proxy.requestlog.schema import bind_none_directly
except ImportError:  # an older checkout, measured for comparison (PYTHONPATH=that checkout)
    def bind_none_directly() -> None:
        """Nothing: that checkout's log binds None through sqlite3's adaptation search."""

BATCH = 200  # the log's default batch_size: rows per transaction
_ids = itertools.count()


def stream_body(deltas: int = 20) -> bytes:
    events = [payloads.anthropic_delta(1_000_000_000 + i) for i in range(deltas)]
    return b"".join(payloads.anthropic_head() + events + payloads.anthropic_tail(deltas))


def make_entries(count: int, kind: str, vary: bool) -> list[LogEntry]:
    """``count`` typical entries (bench.logcost's), streamed ones for ``kind="stream"``; with
    ``vary``, the response headers a real upstream changes per answer (id, date, length)."""
    entries = logcost.entries(count, 0)
    body = stream_body() if kind == "stream" else None
    for n, entry in enumerate(entries):
        entry.id = f"{entry.id}{next(_ids):x}"
        if body is not None:
            entry.stream, entry.response_body, entry.response_size = True, body, len(body)
            entry.request_body = payloads.request_body(True)
            entry.response_headers = {"Content-Type": "text/event-stream", "request-id": "req_bench",
                                      "Cache-Control": "no-cache", "Date": "Sat, 21 Nov 2026 06:54:37 GMT"}
        if vary:
            headers = dict(entry.response_headers)
            headers["request-id"] = f"req_011CV{n:020d}"
            headers["Date"] = email.utils.formatdate(1_790_000_000 + n // 500, usegmt=True)
            if "Content-Length" in headers:
                headers["Content-Length"] = str(270 + n % 40)
            entry.response_headers = headers
    return entries


def cpu_per_entry(run: Callable[[], Any], count: int, repeat: int) -> float:
    """The best of ``repeat`` runs, in CPU µs per entry (this thread's work, SQLite's included)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best / count * 1e6


def encoded_frames(entries: list[LogEntry]) -> list[tuple[bytes, bytes]]:
    """Each frame as the child reads it: (marshal part, body part)."""
    out = []
    for _, buffers in logwire.frames(entries):
        data = b"".join(bytes(b) for b in buffers)
        meta_size, _ = logwire.FRAME_HEAD.unpack_from(data)
        start = logwire.FRAME_HEAD.size
        out.append((data[start:start + meta_size], data[start + meta_size:]))
    return out


def open_log(path: Path, schema: str | None = None) -> SqliteRequestLog:
    """A SqliteRequestLog whose connection is open but whose writer thread is not: `_insert` is called directly."""
    log = SqliteRequestLog(path)
    bind_none_directly()  # as SqliteRequestLog.start() does
    log._conn = connect(path)
    migrate(log._conn)
    if schema:
        log._conn.executescript(schema)
    return log


def fresh_ids(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(f"{row[0]}-{next(_ids):x}", *row[1:]) for row in rows]


def insert_all(log: SqliteRequestLog, rows: list[tuple[Any, ...]], batch: int = BATCH) -> None:
    for start in range(0, len(rows), batch):
        assert log._insert(rows[start:start + batch])


def measure_steps(count: int, kind: str, vary: bool, repeat: int, folder: Path) -> dict[str, float]:
    entries = make_entries(count, kind, vary)
    frames = encoded_frames(entries)
    builder = SqliteRequestLog(folder / "unused.db")
    log = open_log(folder / f"steps-{kind}-{vary}.db")
    rows = builder._rows(entries)
    fresh = [fresh_ids(rows) for _ in range(repeat)]
    figures = {
        "decode": cpu_per_entry(lambda: [logwire.decode_frame(m, b) for m, b in frames], count, repeat),
        "build_row": cpu_per_entry(lambda: builder._rows(entries), count, repeat),
        "insert": cpu_per_entry(lambda: insert_all(log, fresh.pop()), count, repeat),
    }
    figures["total"] = sum(figures.values())
    return figures


_BARE = f"""
DROP INDEX IF EXISTS {TABLE}_started_at; DROP INDEX IF EXISTS {TABLE}_model; DROP INDEX IF EXISTS {TABLE}_status;
"""


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _user_sys_per_row(log: SqliteRequestLog, rows: list[tuple[Any, ...]], batch: int,
                      repeat: int) -> tuple[float, float]:
    """(user, system) CPU µs per row inserted, from the run with the least of both."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        fresh = fresh_ids(rows)
        user, system = _cpu()
        insert_all(log, fresh, batch)
        after = _cpu()
        got = ((after[0] - user) / len(rows) * 1e6, (after[1] - system) / len(rows) * 1e6)
        best = min(best, got, key=sum)
    return best


def _memory_log(folder: Path, schema: str | None) -> SqliteRequestLog:
    log = SqliteRequestLog(folder / "unused.db")
    bind_none_directly()
    log._conn = sqlite3.connect(":memory:", isolation_level=None)
    migrate(log._conn)
    if schema:
        log._conn.executescript(schema)
    return log


_NO_PK = f"DROP TABLE {TABLE}; CREATE TABLE {TABLE} ({', '.join(COLUMNS)});"


def measure_sqlite(count: int, repeat: int, folder: Path) -> dict[str, tuple[float, float]]:
    """The insert's (user, system) CPU per row under variations, each on its own scratch file."""
    rows = SqliteRequestLog(folder / "unused.db")._rows(make_entries(count, "json", True))
    small = [tuple(None if c in ("request_body", "response_body", "message") else v
                   for c, v in zip(COLUMNS, row, strict=True)) for row in rows]
    variants: list[tuple[str, Callable[[], SqliteRequestLog], list[tuple[Any, ...]], int]] = [
        ("as is: INSERT OR REPLACE, 4 indexes, ~2.7 KB rows, 200 rows/transaction",
         lambda: open_log(folder / "asis.db"), rows, BATCH),
        ("without the 3 secondary indexes", lambda: open_log(folder / "bare.db", _BARE), rows, BATCH),
        ("without any index (no id primary key either)", lambda: open_log(folder / "nopk.db", _NO_PK), rows, BATCH),
        ("bodies and message NULL (~0.4 KB rows)", lambda: open_log(folder / "small.db"), small, BATCH),
        ("no index, bodies NULL: binding 28 values and appending",
         lambda: open_log(folder / "floor.db", _NO_PK), small, BATCH),
        ("in memory (no file I/O), as is", lambda: _memory_log(folder, None), rows, BATCH),
        ("in memory, no index, bodies NULL", lambda: _memory_log(folder, _NO_PK), small, BATCH),
        ("2000 rows/transaction", lambda: open_log(folder / "big-tx.db"), rows, 2000),
        ("20 rows/transaction", lambda: open_log(folder / "small-tx.db"), rows, 20),
        ("pragma, not applied: synchronous = OFF",
         lambda: open_log(folder / "sync-off.db", "PRAGMA synchronous = OFF;"), rows, BATCH),
        ("pragma, not applied: no automatic checkpoints (their cost)",
         lambda: open_log(folder / "no-ckpt.db", "PRAGMA wal_autocheckpoint = 0;"), rows, BATCH),
    ]
    return {name: _user_sys_per_row(make(), data, batch, repeat) for name, make, data, batch in variants}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rowcost", description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; the best one counts")
    parser.add_argument("--sqlite", action="store_true", help="also break the SQLite insert down")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"CPU µs per entry, best of {args.repeat} runs of {args.count} entries")
        print(f"{'entries':<34}{'decode':>8}{'build_row':>11}{'insert':>8}{'total':>8}")
        for kind, vary in (("json", False), ("json", True), ("stream", True)):
            figures = measure_steps(args.count, kind, vary, args.repeat, Path(tmp))
            label = f"{kind}, {'varying' if vary else 'identical'} response headers"
            print(f"{label:<34}" + "".join(f"{figures[k]:>{w}.1f}" for k, w in
                                           (("decode", 8), ("build_row", 11), ("insert", 8), ("total", 8))))
        if args.sqlite:
            print("\nSQLite insert, CPU µs per row (json entries), user + system:")
            for name, (user, system) in measure_sqlite(args.count, args.repeat, Path(tmp)).items():
                print(f"  {user + system:5.1f} = {user:4.1f} + {system:4.1f}  {name}")


if __name__ == "__main__":
    main()
