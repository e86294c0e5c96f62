"""CORS for browser clients: off unless ``server.cors_origins`` lists origins ("*" for any).

Headers are added on response prepare, so streamed responses get them too; preflight
``OPTIONS`` requests are answered here and never reach the upstream.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
MAX_AGE = "600"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Cors:
    def __init__(self, origins: list[str]) -> None:
        self.any = "*" in origins
        self.origins = frozenset(origins)

    def allowed(self, origin: str | None) -> bool:
        return bool(origin) and (self.any or origin in self.origins)

    @web.middleware
    async def preflight(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if (request.method == "OPTIONS" and origin
                and "Access-Control-Request-Method" in request.headers):
            if not self.allowed(origin):
                return web.Response(status=403, text="CORS origin not allowed")
            headers = {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ALLOW_METHODS,
                "Access-Control-Max-Age": MAX_AGE,
                "Vary": "Origin",
            }
            requested = request.headers.get("Access-Control-Request-Headers")
            if requested:
                headers["Access-Control-Allow-Headers"] = requested
            return web.Response(status=204, headers=headers)
        return await handler(request)

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get("Origin")
        if self.allowed(origin):
            response.headers["Access-Control-Allow-Origin"] = origin  # type: ignore[assignment]
            response.headers["Access-Control-Expose-Headers"] = "*"
            response.headers.add("Vary", "Origin")

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self.preflight)
        app.on_response_prepare.append(self.on_prepare)
