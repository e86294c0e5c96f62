"""``GET /health``: is this process up, and what is it doing. Never calls the upstream."""

from __future__ import annotations

import os
import time

from aiohttp import web

from claude_proxy import __version__
from claude_proxy.proxy.state import STATE


async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    log = state.request_log
    log_info = ({"enabled": True, "queue_depth": log.queue_depth, "healthy": log.healthy}
                if log is not None else {"enabled": False})
    status = "ok" if log is None or log.healthy else "degraded"
    return web.json_response({
        "status": status,
        "version": __version__,
        "pid": os.getpid(),
        "uptime_s": round(time.time() - state.started_at, 3),
        "upstream": state.upstream.base_url,
        "in_flight": state.activity.in_flight,
        "log": log_info,
    })


async def hello(request: web.Request) -> web.Response:
    """``HEAD /api/hello`` and ``HEAD /``: Claude Code's connection probes, answered here (nothing to warm)."""
    return web.json_response({"status": "ok"})
