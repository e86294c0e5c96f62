"""`claude-proxy logs list|show|tail|stats`: read the request log."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

import typer

from claude_proxy.cli.errors import CLIError

if TYPE_CHECKING:
    import sqlite3

    from rich.console import Console

app = typer.Typer(help="Read the request log.", no_args_is_help=True)

LogDbOption = typer.Option(None, "--log-db", help="Request log file (default: log.path, or the user data dir).")
ConfigOption = typer.Option(None, "--config", "-c", help="Settings file (default: the search order in the README).")
JsonOption = typer.Option(False, "--json", help="Print JSON.")
ModelOption = typer.Option(None, "--model", "-m", help="Only rows whose requested or upstream model contains this.")
SinceOption = typer.Option(None, "--since", help="Only rows this recent: an age (30m, 2h, 7d) or a date (2026-01-31).")
StatusOption = typer.Option(None, "--status", "-s", help="Only this status: a code (429), a class (5xx), ok or error.")


@contextmanager
def _reading(log_db: Optional[str], config: Optional[str]) -> Iterator[sqlite3.Connection]:
    """Open the log read-only; its failures become one CLI error line."""
    import sqlite3

    from claude_proxy.requestlog.query import LogQueryError, open_log
    from claude_proxy.settings import load_settings

    path = Path(log_db).expanduser() if log_db else load_settings(config).log.db_path()
    try:
        conn = open_log(path)
        try:
            yield conn
        finally:
            conn.close()
    except LogQueryError as exc:
        raise CLIError(str(exc)) from None
    except sqlite3.Error as exc:
        raise CLIError(f"cannot read the request log {path}: {exc}") from None


def _console() -> "Console":
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def _print_json(data: Any) -> None:
    import json

    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@app.command("list")
def list_(
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many rows (newest first)."),
    model: Optional[str] = ModelOption,
    status: Optional[str] = StatusOption,
    since: Optional[str] = SinceOption,
    json_out: bool = JsonOption,
    log_db: Optional[str] = LogDbOption,
    config: Optional[str] = ConfigOption,
) -> None:
    """List the newest exchanges."""
    import time

    from claude_proxy.requestlog.query import list_entries, parse_since, public

    with _reading(log_db, config) as conn:
        start = parse_since(since, time.time()) if since else None
        entries = list_entries(conn, limit=limit, model=model, status=status, since=start)
    if json_out:
        _print_json([public(e) for e in entries])
        return
    if not entries:
        typer.echo("no matching requests in the log")
        return
    from claude_proxy.requestlog.view import entries_table

    _console().print(entries_table(entries))


@app.command()
def show(
    ident: str = typer.Argument(..., metavar="ID", help="A request id (a unique prefix is enough)."),
    raw: bool = typer.Option(False, "--raw", help="Print both bodies whole (the raw SSE for streams)."),
    json_out: bool = JsonOption,
    log_db: Optional[str] = LogDbOption,
    config: Optional[str] = ConfigOption,
) -> None:
    """Show one exchange: request, response and the assembled answer."""
    from claude_proxy.requestlog.query import get_entry, public

    with _reading(log_db, config) as conn:
        entry = get_entry(conn, ident)
    if json_out:
        _print_json(public(entry))
        return
    from claude_proxy.requestlog.view import entry_view

    _console().print(entry_view(entry, raw=raw))


@app.command()
def tail(
    lines: int = typer.Option(10, "--lines", "-n", min=0, help="Rows to print before following."),
    model: Optional[str] = ModelOption,
    status: Optional[str] = StatusOption,
    interval: float = typer.Option(0.5, "--interval", min=0.05, help="Seconds between looks for new rows."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per line."),
    log_db: Optional[str] = LogDbOption,
    config: Optional[str] = ConfigOption,
) -> None:
    """Print the newest rows, then follow new ones until Ctrl-C."""
    import json

    from claude_proxy.requestlog.query import public
    from claude_proxy.requestlog.view import tail_line

    def emit(entry: dict[str, Any]) -> None:
        typer.echo(json.dumps(public(entry), ensure_ascii=False) if json_out else tail_line(entry))

    with _reading(log_db, config) as conn:
        _follow(conn, lines, model, status, interval, emit)


def _follow(conn: sqlite3.Connection, lines: int, model: Optional[str], status: Optional[str],
            interval: float, emit: Callable[[dict[str, Any]], None]) -> None:
    """Print the last ``lines`` rows, then poll for new ones; Ctrl-C ends it quietly."""
    import time

    from claude_proxy.requestlog.query import entries_after, last_rowid, list_entries

    try:
        newest = last_rowid(conn)
        for entry in reversed(list_entries(conn, limit=lines, model=model, status=status) if lines else []):
            emit(entry)
        typer.echo("following the request log (Ctrl-C to stop)", err=True)
        while True:
            time.sleep(interval)
            upto = last_rowid(conn)
            for entry in entries_after(conn, newest, upto, model=model, status=status):
                emit(entry)
            newest = upto
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command()
def stats(
    model: Optional[str] = ModelOption,
    since: Optional[str] = SinceOption,
    json_out: bool = JsonOption,
    log_db: Optional[str] = LogDbOption,
    config: Optional[str] = ConfigOption,
) -> None:
    """Requests, errors, tokens by model and p50/p95 latency."""
    import time

    from claude_proxy.requestlog.query import parse_since
    from claude_proxy.requestlog.query import stats as compute

    with _reading(log_db, config) as conn:
        start = parse_since(since, time.time()) if since else None
        data = compute(conn, model=model, since=start)
    if json_out:
        _print_json(data)
        return
    from claude_proxy.requestlog.view import stats_view

    _console().print(stats_view(data))
