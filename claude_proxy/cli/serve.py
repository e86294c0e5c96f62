"""`claude-proxy serve`: run the Anthropic pass-through proxy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Protocol, TypeGuard

import typer

from claude_proxy.cli.errors import CLIError

if TYPE_CHECKING:
    from claude_proxy.settings import LogLevel, Settings

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class Listening(Protocol):
    """Where the proxy listens: a single server or a group of workers sharing the port."""

    @property
    def url(self) -> str: ...

    @property
    def client_url(self) -> str: ...


def _is_log_level(value: str) -> "TypeGuard[LogLevel]":
    return value in LOG_LEVELS


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: Optional[str] = typer.Option(
            None, "--host", help="Address to listen on (default: server.host, 127.0.0.1)."),
        port: Optional[int] = typer.Option(
            None, "--port", "-p", help="Port to listen on (default: server.port, 8082; 0 picks one)."),
        upstream: Optional[str] = typer.Option(
            None, "--upstream", help="Upstream base URL (default: upstream.base_url)."),
        config: Optional[str] = typer.Option(
            None, "--config", "-c", help="Settings file (default: the search order in the README)."),
        log_db: Optional[str] = typer.Option(
            None, "--log-db", help="Request log: a SQLite file or a postgresql:// URL (default: log.url, log.path)."),
        no_log: bool = typer.Option(False, "--no-log", help="Do not write the request log."),
        log_level: Optional[str] = typer.Option(None, "--log-level", help="debug | info | warning | error | critical."),
        workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1,
                                              help="Processes sharing the port (default: server.workers, 1)."),
        allow_unauthenticated: bool = typer.Option(
            False, "--allow-unauthenticated",
            help="Listen beyond loopback without access keys (server.auth_keys / $CLAUDE_PROXY_KEYS)."),
        quiet: bool = typer.Option(False, "--quiet", "-q",
                                   help="No access line per request (server.access_log: false)."),
    ) -> None:
        """Run the proxy: byte-exact pass-through to the upstream, every exchange logged."""
        _serve(host, port, upstream, config, log_db, no_log, log_level, workers,
               allow_unauthenticated=allow_unauthenticated, quiet=quiet)


def _apply_overrides(settings: "Settings", host: Optional[str], port: Optional[int], upstream: Optional[str],
                     log_db: Optional[str], no_log: bool, log_level: Optional[str],
                     workers: Optional[int] = None) -> None:
    """Command-line options win over the settings file; they are validated the same way."""
    from pydantic import ValidationError

    if log_db and no_log:
        raise CLIError("--log-db and --no-log cannot be used together", 2)
    level: LogLevel | None = None
    if log_level is not None:
        lowered = log_level.lower()
        if not _is_log_level(lowered):
            raise CLIError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}", 2)
        level = lowered
    try:
        if host is not None:
            settings.server.host = host
        if port is not None:
            settings.server.port = port
        if upstream is not None:
            settings.upstream.base_url = upstream
        if log_db and log_db.startswith(("postgresql://", "postgres://")):
            settings.log.url = log_db
        elif log_db:
            settings.log.path = log_db
            settings.log.enabled = True
        if no_log:
            settings.log.enabled = False
        if level is not None:
            settings.server.log_level = level
        if workers is not None:
            settings.server.workers = workers
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CLIError(f"invalid option: {first['loc'][-1]}: {first['msg'].lower()}", 2) from None


def _serve(host: Optional[str], port: Optional[int], upstream: Optional[str], config: Optional[str],
           log_db: Optional[str], no_log: bool, log_level: Optional[str], workers: Optional[int] = None, *,
           allow_unauthenticated: bool = False, quiet: bool = False) -> None:
    import logging
    import sys

    from claude_proxy.proxy.protection.access import AccessKeys
    from claude_proxy.proxy.server import ServeError, run
    from claude_proxy.requestlog.process import ProcessRequestLog
    from claude_proxy.settings import load_settings

    settings = load_settings(config)
    _apply_overrides(settings, host, port, upstream, log_db, no_log, log_level, workers)
    if allow_unauthenticated:
        settings.server.allow_unauthenticated = True
    if quiet:
        settings.server.access_log = False
    logging.basicConfig(level=settings.server.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def make_log() -> "ProcessRequestLog | None":
        # Rows are built and written by a child process (one per worker), off the serving GIL.
        return ProcessRequestLog.from_settings(settings.log) if settings.log.enabled else None

    request_log = make_log() if settings.server.workers == 1 else None

    def ready(server: Listening) -> None:
        typer.echo(f"claude-proxy listening on {server.url} -> {settings.upstream.base_url}")
        if settings.server.workers > 1:
            typer.echo(f"workers: {settings.server.workers} processes sharing the port")
        typer.echo(f"request log: {_log_target(settings) if settings.log.enabled else 'off'}")
        if settings.routes:
            from claude_proxy.proxy.routing.routes import Router

            typer.echo(f"routes: {Router(settings).describe()}")
        keys = len(AccessKeys.from_settings(settings.server))
        typer.echo(f"access keys: {keys} (clients must present one)" if keys else
                   "access keys: none (anyone who can connect can use it)")
        typer.echo(f"export ANTHROPIC_BASE_URL={server.client_url}")
        sys.stdout.flush()

    try:
        if settings.server.workers > 1:
            from claude_proxy.proxy.workers import run_workers

            run_workers(settings, make_log, settings.server.workers, on_ready=ready)
        else:
            run(settings, request_log, on_ready=ready)
    except ServeError as exc:
        raise CLIError(str(exc)) from None
    typer.echo("claude-proxy stopped")


def _log_target(settings: "Settings") -> str:
    """Where the log goes, as shown at start-up (a URL's password masked)."""
    from claude_proxy.secrets import mask_url

    return mask_url(settings.log.url) if settings.log.url else str(settings.log.db_path())
