"""`claude-proxy logs list|show|tail|stats|sessions|search|prune`: read (and trim) the request log."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

import typer

from claude_proxy.cli.errors import CLIError

if TYPE_CHECKING:
    from rich.console import Console

    from claude_proxy.requestlog.store.protocol import Filters, TraceStore
    from claude_proxy.settings import Settings

app = typer.Typer(help="Read the request log.", no_args_is_help=True)

LogDbOption = typer.Option(None, "--log-db", help="Request log file or postgresql:// URL (default: log.url, "
                                                     "log.path, or the user data dir).")
ConfigOption = typer.Option(None, "--config", "-c", help="Settings file (default: the search order in the README).")
JsonOption = typer.Option(False, "--json", help="Print JSON.")
ModelOption = typer.Option(None, "--model", "-m", help="Only rows whose requested or upstream model contains this.")
SinceOption = typer.Option(None, "--since", help="Only rows this recent: an age (30m, 2h, 7d) or a date (2026-01-31).")
StatusOption = typer.Option(None, "--status", "-s", help="Only this status: a code (429), a class (5xx), ok or error.")
LimitOption = typer.Option(20, "--limit", "-n", min=1, help="How many (newest first).")


def _settings(config: Optional[str]) -> Settings:
    from claude_proxy.settings import load_settings

    return load_settings(config)


def log_target(log_db: Optional[str], settings: Settings) -> str:
    """``--log-db`` (a file or a postgresql:// URL), else ``log.url``, else ``log.path``."""
    if log_db:
        return log_db if log_db.startswith(("postgresql://", "postgres://")) else str(Path(log_db).expanduser())
    return settings.log.target()


@contextmanager
def _reading(log_db: Optional[str], config: Optional[str]) -> Iterator[TraceStore]:
    """Open the log read-only through the trace store; its failures become one CLI error line."""
    import sqlite3

    from claude_proxy.pricing import PriceTable
    from claude_proxy.requestlog.query import LogQueryError
    from claude_proxy.requestlog.store.targets import describe, open_trace_store

    settings = _settings(config)
    target = log_target(log_db, settings)
    try:
        store = open_trace_store(target, PriceTable.from_settings(settings.prices))
        try:
            yield store
        finally:
            store.close()
    except LogQueryError as exc:
        raise CLIError(str(exc)) from None
    except sqlite3.Error as exc:
        raise CLIError(f"cannot read the request log {describe(target)}: {exc}") from None


def _filters(model: Optional[str] = None, status: Optional[str] = None, since: Optional[str] = None,
             session: Optional[str] = None, key: Optional[str] = None) -> Filters:
    import time

    from claude_proxy.requestlog.query import LogQueryError, parse_since
    from claude_proxy.requestlog.store.protocol import Filters

    try:
        start = parse_since(since, time.time()) if since else None
    except LogQueryError as exc:
        raise CLIError(str(exc)) from None
    return Filters(model=model, status=status, since=start, session=session, key=key)


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def _print_json(data: Any) -> None:
    import json

    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@app.command("list")
def list_(
    limit: int = LimitOption,
    model: Optional[str] = ModelOption,
    status: Optional[str] = StatusOption,
    since: Optional[str] = SinceOption,
    session: Optional[str] = typer.Option(None, "--session", help="Only this session's rows."),
    json_out: bool = JsonOption,
    log_db: Optional[str] = LogDbOption,
    config: Optional[str] = ConfigOption,
) -> None:
    """List the newest exchanges (the columns that fit the terminal, most useful first)."""
    from claude_proxy.requestlog.query import public

    with _reading(log_db, config) as store:
        entries = store.rows(_filters(model, status, since, session), limit=limit)
    if json_out:
        _print_json([public(e) for e in entries])
        return
    if not entries:
        typer.echo("no matching requests in the log")
        return
    from claude_proxy.requestlog.tables import entries_table

    console = _console()
    console.print(entries_table(entries, console.width))


@app.command()
def show(
    ident: str = typer.Argument(..., metavar="ID", help="A request id (a unique prefix is enough)."),
    raw: bool = typer.Option(False, "--raw", help="Print both bodies whole (the raw SSE for streams)."),
    json_out: bool = JsonOption,
    log_db: Optional[str] = LogDbOption,
    config: Optional[str] = ConfigOption,
) -> None:
    """Show one exchange: the conversation and answer first, then the response body and headers."""
    from claude_proxy.requestlog.query import public

    with _reading(log_db, config) as store:
        entry = store.row(ident)
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

    with _reading(log_db, config) as store:
        _follow(store, lines, _filters(model, status), interval, emit)


def _follow(store: TraceStore, lines: int, filters: Filters, interval: float,
            emit: Callable[[dict[str, Any]], None]) -> None:
    """Print the last ``lines`` rows, then poll for new ones; Ctrl-C ends it quietly."""
    import time

    from claude_proxy.requestlog.query import LogUnavailable

    try:
        follower = store.follow(filters)  # first: a row landing while the last ones print is not missed
        shown = store.rows(filters, limit=lines) if lines else []
        for entry in reversed(shown):
            emit(entry)
        printed = {entry["id"] for entry in shown}  # ... nor printed twice, when it is among them
        typer.echo("following the request log (Ctrl-C to stop)", err=True)
        down = False
        while True:
            time.sleep(interval)
            try:
                landed = follower.poll()
            except LogUnavailable as exc:  # a server restarting: say so once, and keep following
                if not down:
                    typer.echo(f"claude-proxy: {exc}; still following", err=True)
                down = True
                continue
            if down:
                typer.echo("claude-proxy: the request log can be read again", err=True)
                down = False
            for entry in landed:
                if entry["id"] not in printed:
                    emit(entry)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@app.command()
def stats(
    by: str = typer.Option("model", "--by", help="Group by model, day, session or key."),
    model: Optional[str] = ModelOption,
    since: Optional[str] = SinceOption,
    json_out: bool = JsonOption,
    log_db: Optional[str] = LogDbOption,
    config: Optional[str] = ConfigOption,
) -> None:
    """Requests, errors, tokens, cost and p50/p95 latency, by model, day, session or key."""
    if by not in ("model", "day", "session", "key"):
        raise CLIError(f"--by {by!r}: use model, day, session or key")
    with _reading(log_db, config) as store:
        data = store.stats(_filters(model, since=since), by=by)  # type: ignore[arg-type]
    if json_out:
        _print_json(data)
        return
    from claude_proxy.requestlog.tables import stats_view

    console = _console()
    console.print(stats_view(data, console.width))


@app.command()
def sessions(
    ident: Optional[str] = typer.Argument(None, metavar="[ID]", help="A session id (or unique prefix): its turns."),
    limit: int = LimitOption,
    model: Optional[str] = ModelOption,
    since: Optional[str] = SinceOption,
    json_out: bool = JsonOption,
    log_db: Optional[str] = LogDbOption,
    config: Optional[str] = ConfigOption,
) -> None:
    """Sessions, most recent first: turns, models, tokens, cache hits, cost, errors, first prompt."""
    from claude_proxy.requestlog.query import public

    with _reading(log_db, config) as store:
        if ident:
            turns = store.session(ident)
        else:
            found = store.sessions(_filters(model, since=since), limit=limit)
    console = _console()
    if ident:
        if json_out:
            _print_json([public(t) for t in turns])
            return
        from claude_proxy.requestlog.tables import entries_table

        console.print(entries_table(turns, console.width))
        return
    if json_out:
        _print_json(found)
        return
    if not found:
        typer.echo("no sessions in the log")
        return
    from claude_proxy.requestlog.tables import sessions_table

    console.print(sessions_table(found, console.width))


@app.command()
def search(
    text: str = typer.Argument(..., metavar="TEXT", help="Words or a phrase from prompts, tool results or answers."),
    limit: int = LimitOption,
    model: Optional[str] = ModelOption,
    since: Optional[str] = SinceOption,
    json_out: bool = JsonOption,
    log_db: Optional[str] = LogDbOption,
    config: Optional[str] = ConfigOption,
) -> None:
    """Find the requests whose new messages or answer contain TEXT (full-text index)."""
    from claude_proxy.requestlog.query import public

    with _reading(log_db, config) as store:
        found = store.search(text, _filters(model, since=since), limit=limit)
    if json_out:
        _print_json([{**public(r), "match": r.get("match")} for r in found])
        return
    if not found:
        typer.echo(f"nothing in the log matches {text!r}")
        return
    from claude_proxy.requestlog.tables import search_table

    console = _console()
    console.print(search_table(found, console.width))


@app.command()
def prune(
    older_than: Optional[float] = typer.Option(None, "--older-than-days", help="Instead of max_age_days."),
    max_size_mb: Optional[float] = typer.Option(None, "--max-size-mb", help="Instead of max_size_mb."),
    json_out: bool = JsonOption,
    log_db: Optional[str] = LogDbOption,
    config: Optional[str] = ConfigOption,
) -> None:
    """Delete old rows (log.retention), collect content no row uses, and give the space back."""
    import dataclasses
    import sqlite3

    from claude_proxy.requestlog.query import LogQueryError
    from claude_proxy.requestlog.store.targets import describe, open_maintenance

    settings = _settings(config)
    target = log_target(log_db, settings)
    age = older_than if older_than is not None else settings.log.retention.max_age_days
    size = max_size_mb if max_size_mb is not None else settings.log.retention.max_size_mb
    if age is None and size is None:
        raise CLIError("nothing to prune by: set log.retention (max_age_days, max_size_mb) or pass "
                       "--older-than-days / --max-size-mb")
    try:
        retention = open_maintenance(target, busy_timeout=settings.log.busy_timeout)
        try:
            result = retention.prune(max_age_days=age, max_size_mb=size)
        finally:
            retention.close()
    except LogQueryError as exc:
        raise CLIError(str(exc)) from None
    except sqlite3.Error as exc:
        raise CLIError(f"cannot prune the request log {describe(target)}: {exc}") from None
    if json_out:
        _print_json(dataclasses.asdict(result))
        return
    typer.echo(f"removed {result.rows:,} rows and {result.content:,} pieces of content; "
               f"{result.size_before / 1e6:.1f} MB -> {result.size_after / 1e6:.1f} MB in use, "
               f"{result.freed_bytes / 1e6:.1f} MB given back")
