"""`claude-proxy logs ui` and `logs export`: the trace viewer without a proxy, and one session as a file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import typer

from claude_proxy.cli.errors import CLIError

if TYPE_CHECKING:
    from claude_proxy.requestlog.store.protocol import TraceStore

LogDbOption = typer.Option(None, "--log-db", help="Request log file or postgresql:// URL (default: log.url, "
                                                     "log.path, or the user data dir).")
ConfigOption = typer.Option(None, "--config", "-c", help="Settings file (default: the search order in the README).")


def _opener(log_db: Optional[str], config: Optional[str]) -> "tuple[str, Callable[[], TraceStore]]":
    from claude_proxy.cli.logs import log_target
    from claude_proxy.pricing import PriceTable
    from claude_proxy.requestlog.query import LogQueryError
    from claude_proxy.requestlog.store.targets import describe, open_trace_store
    from claude_proxy.settings import load_settings

    settings = load_settings(config)
    target = log_target(log_db, settings)
    prices = PriceTable.from_settings(settings.prices)

    def open_store() -> "TraceStore":
        return open_trace_store(target, prices)

    try:
        open_store().close()  # fail now, with one line, on a missing or foreign log
    except LogQueryError as exc:
        raise CLIError(str(exc)) from None
    return describe(target), open_store


def register(logs: typer.Typer) -> None:
    """Add ``ui`` and ``export`` to the ``logs`` command group."""

    @logs.command("ui")
    def ui(
        log_db: Optional[str] = LogDbOption,
        config: Optional[str] = ConfigOption,
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
        port: int = typer.Option(8083, "--port", "-p", help="Port (0: any free port)."),
    ) -> None:
        """Serve the trace viewer for a log file, with no proxy running."""
        from claude_proxy.requestlog.viewer.app import run_viewer

        where, open_store = _opener(log_db, config)
        try:
            run_viewer(open_store, host, port, lambda url: typer.echo(f"viewer for {where} on {url} (Ctrl-C to stop)"))
        except OSError as exc:
            raise CLIError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    @logs.command("export")
    def export(
        ident: str = typer.Argument(..., help="A session id, or a row id (its session is exported)."),
        html: bool = typer.Option(False, "--html", help="Write one self-contained HTML page (the only format)."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="File to write (default: stdout)."),
        log_db: Optional[str] = LogDbOption,
        config: Optional[str] = ConfigOption,
    ) -> None:
        """Export a session as one HTML file that opens offline."""
        from contextlib import closing

        from claude_proxy.requestlog.viewer.pages import BadQuery, PageNotFound, export_html

        if not html:
            raise CLIError("say which format: --html (one self-contained page)", exit_code=2)
        _, open_store = _opener(log_db, config)
        try:
            with closing(open_store()) as store:
                page = export_html(store, ident)
        except (PageNotFound, BadQuery) as exc:
            raise CLIError(str(exc)) from None
        if output is None:
            typer.echo(page)
            return
        try:
            output.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise CLIError(f"cannot write {output}: {exc.strerror or exc}") from None
        typer.echo(f"wrote {output} ({len(page.encode()):,} bytes)", err=True)
