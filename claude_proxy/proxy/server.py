"""Run the proxy: bind, serve until Ctrl-C / SIGTERM, then shut down cleanly.

Shutdown order: stop accepting, let in-flight requests finish (up to
``server.shutdown_timeout``), close the upstream pool, drain the request log (up to
``log.drain_timeout``, then the entries left are counted and reported). Client
connections are kept in check by `connections.ConnectionGuard`; one access line per
request goes to the ``claude_proxy.access`` logger unless ``server.access_log`` is off.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import signal
import sys
from dataclasses import dataclass
from typing import Callable

from aiohttp import web

from claude_proxy.proxy import accesslog
from claude_proxy.proxy.app import create_app
from claude_proxy.proxy.connections import ConnectionGuard, connection_cap, quiet_bad_requests, raise_fd_limit
from claude_proxy.proxy.loopguard import UpstreamLoopError, check_upstream_not_self
from claude_proxy.proxy.protection.access import AccessKeys, check_exposure
from claude_proxy.requestlog.entry import RequestLog, RequestLogError
from claude_proxy.settings import Settings

log = logging.getLogger(__name__)

GIL_SWITCH_SECONDS = 0.0005
# One line per request, as nginx and uvicorn print: client, request line, status, bytes, seconds.
ACCESS_FORMAT = '%a "%r" %s %b %Tfs'


class ServeError(Exception):
    """The server cannot start (port in use, loop, unusable log): one line for the user."""


@dataclass
class RunningServer:
    runner: web.AppRunner
    host: str
    port: int
    guard: ConnectionGuard | None = None

    @property
    def url(self) -> str:
        return _http_url(self.host, self.port)

    @property
    def client_url(self) -> str:
        """The URL a client on this machine uses (a wildcard listen address becomes loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        return _http_url(host, self.port)

    async def stop(self) -> None:
        await self.runner.cleanup()


def _http_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _access_logger(settings: Settings, app: web.Application) -> logging.Logger | None:
    """The buffered access logger (``accesslog``), released when the app is cleaned up; None when off."""
    if not settings.server.access_log:
        return None

    async def release(_: web.Application) -> None:
        accesslog.release()

    app.on_cleanup.append(release)
    return accesslog.acquire()


async def start_server(settings: Settings, request_log: RequestLog | None = None,
                       host: str | None = None, port: int | None = None,
                       reuse_port: bool = False) -> RunningServer:
    """Build the app and listen; ``port=0`` picks a free port (see ``.port``).

    ``reuse_port`` lets several worker processes listen on one port (SO_REUSEPORT).
    """
    host = settings.server.host if host is None else host
    port = settings.server.port if port is None else port
    try:
        check_exposure([host], AccessKeys.from_settings(settings.server), settings.server.allow_unauthenticated)
    except ValueError as exc:
        raise ServeError(str(exc)) from None
    app = create_app(settings, request_log)
    guard = ConnectionGuard(header_timeout=settings.server.header_timeout,
                            max_connections=connection_cap(settings.server.max_connections, raise_fd_limit()),
                            keepalive_timeout=settings.server.keepalive_timeout)
    app.middlewares.insert(0, guard.middleware)
    quiet_bad_requests()
    runner = web.AppRunner(app, handler_cancellation=True, access_log=_access_logger(settings, app),
                           access_log_format=ACCESS_FORMAT, keepalive_timeout=settings.server.keepalive_timeout,
                           shutdown_timeout=settings.server.shutdown_timeout)
    try:
        await runner.setup()
    except (RequestLogError, OSError) as exc:  # startup hooks: opening the log
        await runner.cleanup()
        raise ServeError(str(exc)) from None
    assert runner.server is not None
    guard.attach(runner.server)
    site = web.TCPSite(runner, host, port, reuse_address=True, reuse_port=reuse_port or None)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise ServeError(f"cannot listen on {host}:{port}: {reason}") from None
    listening = [(addr[0], addr[1]) for addr in runner.addresses]
    try:
        await check_upstream_not_self(settings.upstream.base_url, listening)
    except UpstreamLoopError as exc:
        await runner.cleanup()
        raise ServeError(str(exc)) from None
    bound_host, bound_port = listening[0] if listening else (host, port)
    return RunningServer(runner, bound_host, bound_port, guard)


async def serve_until_stopped(settings: Settings, request_log: RequestLog | None = None,
                              host: str | None = None, port: int | None = None,
                              on_ready: Callable[[RunningServer], None] | None = None,
                              reuse_port: bool = False) -> None:
    """Serve until SIGINT or SIGTERM, then shut down in order.

    For a process's main coroutine: it owns SIGINT/SIGTERM, and ignores them once the
    shutdown is done so a late signal cannot turn a clean exit into a kill.
    """
    server = await start_server(settings, request_log, host, port, reuse_port)
    _settle_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            log.warning("already shutting down; in-flight requests get up to %gs",
                        settings.server.shutdown_timeout)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        if on_ready is not None:
            on_ready(server)
        await stop.wait()
        log.info("shutting down: finishing in-flight requests, then draining the request log")
    finally:
        try:
            await server.stop()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
                signal.signal(sig, signal.SIG_IGN)  # already stopping: a late signal must not kill the exit


def _settle_heap() -> None:
    """Move everything start-up built out of the garbage collector's sight.

    Modules, settings and the app are long-lived; a full collection would walk them
    all again and again under load, and each walk is a pause every in-flight request
    waits out (the p99). ``gc.freeze`` parks them in a permanent generation.
    """
    gc.collect()
    gc.freeze()


def run(settings: Settings, request_log: RequestLog | None = None, host: str | None = None,
        port: int | None = None, on_ready: Callable[[RunningServer], None] | None = None,
        reuse_port: bool = False) -> None:
    """Blocking entry point for the CLI; uses uvloop when it is installed.

    Other threads share the GIL with the event loop (the request log's feeder, which hands
    entries to its writer process, and ``to_thread`` work): with CPython's default 5 ms
    switch interval the event loop could wait that long for the GIL whenever one is busy,
    which shows up as per-event stream delay and p99 latency. 0.5 ms bounds that wait.
    """
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    coro = serve_until_stopped(settings, request_log, host, port, on_ready, reuse_port)
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
        return
    uvloop.run(coro)
