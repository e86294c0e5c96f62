"""The aiohttp application, the one composition root: state built once, routes, start and stop."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from claude_proxy.proxy.cors import Cors
from claude_proxy.proxy.forward import forward, not_found
from claude_proxy.proxy.health import health, hello
from claude_proxy.proxy.protection.middleware import Protection
from claude_proxy.proxy.state import STATE, ProxyState
from claude_proxy.proxy.targets import check_target
from claude_proxy.proxy.ui import mount_viewer
from claude_proxy.requestlog.entry import RequestLog
from claude_proxy.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings, request_log: RequestLog | None = None) -> web.Application:
    """Build the proxy app. Hooks are imported here (errors are `SettingsError`s).

    The app owns ``request_log`` once given: it calls ``start()`` on startup and
    ``close()`` (which drains the queue) on cleanup, both in a thread; cleanup runs
    after the in-flight handlers have finished, so their entries are kept.
    """
    app = web.Application(client_max_size=settings.server.max_body_size, middlewares=[check_target])
    state = ProxyState.from_settings(settings, request_log)
    app[STATE] = state
    app.router.add_get("/health", health)
    app.router.add_get("/api/hello", hello)
    app.router.add_route("HEAD", "/", hello)  # Claude Code's connection probe
    if settings.server.cors_origins:
        Cors(settings.server.cors_origins).install(app)  # outside the key check: preflights carry no key
    # keys, limits, metrics; /health/ready, /metrics
    Protection(settings, request_log, state.metrics, state.activity).install(app)
    app.router.add_route("*", "/v1/{tail:.*}", forward)
    mount_viewer(app, settings)
    app.router.add_route("*", "/{tail:.*}", not_found)
    app.on_startup.append(_startup)
    app.on_shutdown.append(_shutdown)
    app.on_cleanup.append(_cleanup)
    return app


async def _startup(app: web.Application) -> None:
    state = app[STATE]
    if state.request_log is not None:
        await asyncio.to_thread(state.request_log.start)
    await state.upstream.start()
    await state.routing.start()


async def _shutdown(app: web.Application) -> None:
    """Runs before in-flight requests are awaited: lets them tell shutdown from a client leaving."""
    app[STATE].activity.stopping = True


async def _cleanup(app: web.Application) -> None:
    state = app[STATE]
    await state.upstream.close()
    await state.routing.close()
    if state.request_log is not None:  # bounded: a log that cannot be written must not hold the exit
        await asyncio.to_thread(state.request_log.close, state.settings.log.drain_timeout)
