"""Section 8: the proxy with its log on, against the bare aiohttp reference, on Claude Code's own requests.

Every request is the last one of the captured Claude Code run (bench/data/claude-code, ~117 KB: Claude
Code's 24 tools, its system prompt and a tool-using history), posted at 50 connections, in the same
alternating rounds as section 1 and against the same fast upstream. With the log on, each of those
requests becomes a row: split, deduplicated and compressed in the writer process. Target (issue 13):
req/s with the log on at least 1.0x the bare pass-through's, on this workload, in one run. The proxy
is then stopped (which drains its log) and its file must hold a row for every request answered: a
log that fell behind and dropped entries would make the rate a false one. When PostgreSQL's server
programs are installed, a third target writes its log to a throw-away Postgres cluster instead
(issue 14: the Postgres log keeps up with the proxy's own maximum request rate), checked the same way.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.procs import Proc
from bench.sections.common import Check, Context, Section, log
from bench.sections.nonstream import throughput
from bench.stats import fmt
from bench.targets import BARE, PROXY_LOG

CAPTURED = Path(__file__).resolve().parents[1] / "data" / "claude-code"
FLOOR = 1.0


def claude_code_body() -> bytes:
    """The newest captured request's exact bytes, made non-streaming (the fast upstream answers JSON)."""
    files = sorted(CAPTURED.glob("*_v1_messages.json"))
    if not files:
        raise FileNotFoundError(f"no captured requests in {CAPTURED} (run python -m bench.capture)")
    body = files[-1].read_bytes().partition(b"\n")[2]
    return body.replace(b'"stream":true', b'"stream":false')


def run(ctx: Context) -> Section:
    body = claude_code_body()
    targets = [BARE, PROXY_LOG]
    server, pg_url = _postgres(ctx)
    if pg_url is not None:
        targets.append(replace(PROXY_LOG, name=PG_LOG, log_url=pg_url))
    processes: dict[str, Proc | None] = {}
    section = throughput(ctx, targets, "claudecode",
                         f"8. Claude Code requests ({len(body) / 1024:.0f} KB each), log on vs bare", body=body,
                         processes=processes)
    fig = section.data["targets"].get(PROXY_LOG.name)
    ratio = fig["rps_ratio"] if fig else None
    section.checks.append(Check(f"{PROXY_LOG.name} with its log: req/s >= {FLOOR} x bare on Claude Code requests",
                                fmt(ratio) if ratio is not None else "not measured",
                                None if ratio is None else ratio >= FLOOR and fig["errors"] == 0))
    for name in (PROXY_LOG.name, PG_LOG):
        _every_request_a_row(section, name, processes.get(name))
    if server is not None:
        server.remove()  # now: its background work on the rows just written must not weigh on later sections
    if pg_url is None:
        section.notes.append("Postgres not measured: its server programs are not installed")
    return section


PG_LOG = "claude-proxy, log on Postgres"


def _postgres(ctx: Context) -> tuple[Any, str | None]:
    """A throw-away cluster and a fresh database on it, or (None, None) when PostgreSQL is not installed."""
    try:
        from tests.support.services import PostgresServer

        server = PostgresServer()
    except BaseException as exc:  # pytest's skip outside pytest, or no server programs
        log.info("Postgres not measured: %s", exc)
        return None, None
    ctx.stack.callback(server.remove)
    server.start()
    return server, server.create_database("bench_proxy")


def _every_request_a_row(section: Section, name: str, proc: Proc | None) -> None:
    """Stop the proxy (draining its log) and check its log holds a row for every request it answered."""
    fig = section.data["targets"].get(name)
    if not fig or proc is None:
        return
    answered = 1 + section.data["warmup_requests"].get(name, 0) + sum(
        r["requests"] for r in fig["runs"])  # the start-up probe, the warm-up, the rounds
    proc.stop(timeout=120)
    rows = _rows(proc.extra["db"])
    section.data.setdefault("log_rows", {})[name] = {"rows": rows, "answered": answered}
    section.notes.append(f"{name}: the log held {rows:,} rows for {answered:,} requests answered, once the "
                         "proxy had stopped")
    section.checks.append(Check(f"{name}: a log row for every request answered at its top rate", f"{rows:,}",
                                rows >= answered))


def _rows(db: Path | str) -> int:
    if isinstance(db, str):  # a postgresql:// URL
        import psycopg

        with psycopg.connect(db) as conn:
            found = conn.execute("SELECT count(*) FROM requests").fetchone()
        return int(found[0]) if found else 0
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM requests").fetchone()[0])
    finally:
        conn.close()
