"""Routed requests: the proxy's side of model routing (settings ``backends:`` and ``routes:``).

Only consulted when routes exist, so the pass-through stays as fast and byte-exact as
without them. For ``/v1/messages`` and ``count_tokens`` the model is read (a regex
peek, the full parse only when a scenario rule needs the body) and the route decides:
an ``openai`` backend is served by the translating relay (count_tokens by the local
estimate); an ``anthropic`` backend by the ordinary pass-through, with the model
renamed only when the route says so. ``GET /v1/models`` lists the routed names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from claude_proxy.proxy.exchange import Exchange, Prepared
from claude_proxy.proxy.headers import ID_HEADER, ROUTE_HEADER
from claude_proxy.proxy.jsonbody import parse_object
from claude_proxy.proxy.routing.openai import OpenAIRelay, count_tokens_response
from claude_proxy.proxy.routing.routes import PASS_THROUGH, Route, Router, peek_model
from claude_proxy.proxy.translate import jsonio
from claude_proxy.proxy.upstream.client import Upstream
from claude_proxy.requestlog.entry import LogEntry
from claude_proxy.settings import Settings, SettingsError

log = logging.getLogger(__name__)

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
MODELS_PATH = "/v1/models"


@dataclass
class Dispatch:
    """What routing decided: a finished response, or the upstream (and extra headers) to relay."""

    response: web.StreamResponse | None = None
    upstream: Upstream | None = None
    headers: dict[str, str] = field(default_factory=dict)
    route: Route | None = None  # the route chosen (its ``name`` is the routes: key, "" for pass-through)


class Routing:
    """The router and the clients routed requests need; built once from the settings."""

    def __init__(self, settings: Settings, default_upstream: Upstream, *, log_cap: int) -> None:
        self.router = Router(settings)
        self.default_upstream = default_upstream
        # every backend through the same client as the pass-through: one pool each, one error mapping
        self.upstreams: dict[str, Upstream] = {}
        for name, backend in settings.backends.items():
            connect = settings.upstream.connect_timeout if backend.kind == "anthropic" else backend.connect_timeout
            try:
                self.upstreams[name] = Upstream(backend.base_url, connect_timeout=connect, read_timeout=backend.timeout,
                                                pool_size=settings.upstream.pool_size, name=name)
            except ValueError as exc:
                raise SettingsError(f"backends.{name}.base_url: {exc}") from None
        self.relay = OpenAIRelay(self.upstreams, log_cap=log_cap)

    @property
    def active(self) -> bool:
        """Whether any route exists; without one nothing here runs."""
        return self.router.active

    async def start(self) -> None:
        """Open the backends' pools (only when some route can reach them)."""
        if not self.active:
            return
        for upstream in self.upstreams.values():
            await upstream.start()

    async def close(self) -> None:
        """Close every backend's pool."""
        for upstream in self.upstreams.values():
            await upstream.close()

    def upstream_for(self, route: Route) -> Upstream:
        """The pass-through pool of an anthropic route."""
        return self.upstreams.get(route.backend_name, self.default_upstream)

    async def dispatch(self, request: web.Request, prepared: Prepared, exchange: Exchange) -> Dispatch:
        """Route one request; ``prepared`` (path, headers, body) is adjusted for anthropic routes."""
        entry = exchange.entry
        path = request.path
        if request.method == "GET" and (path.rstrip("/") == MODELS_PATH or path.startswith(MODELS_PATH + "/")):
            return self._models(request, path, entry)
        if request.method != "POST" or path not in (MESSAGES_PATH, COUNT_TOKENS_PATH):
            return Dispatch()
        body: dict[str, Any] | None = _parse(prepared.body) if self.router.needs_body else None
        model = body.get("model") if body is not None else peek_model(prepared.body)
        if entry.requested_model is None:
            entry.requested_model = model
        route = self.router.route(model, body)
        label = route.label(model)
        entry.route = label
        entry.upstream_model = route.upstream_model(model)
        headers = {ROUTE_HEADER: label}
        if route.kind == "openai":
            body = body if body is not None else _parse(prepared.body)
            if path == COUNT_TOKENS_PATH:
                response = count_tokens_response(body, label)
                response.headers[ID_HEADER] = entry.id
                entry.status = response.status
                entry.response_body = response.body if isinstance(response.body, bytes) else b""
                return Dispatch(response=response)
            return Dispatch(response=await self.relay.messages(request, body, route, exchange,
                                                               headers={ID_HEADER: entry.id}))
        if route is not PASS_THROUGH:
            self._adjust(request, prepared, route, model, body)
        return Dispatch(upstream=self.upstream_for(route), headers=headers, route=route)

    def retarget(self, request: web.Request, prepared: Prepared, route: Route, model: str | None) -> None:
        """Point a copy of a request at a fallback route: its model and credentials, as dispatch does."""
        self._adjust(request, prepared, route, model, None)

    def _adjust(self, request: web.Request, prepared: Prepared, route: Route, model: str | None,
                body: dict[str, Any] | None) -> None:
        """Rename the model and set the backend's credentials, touching only what the route changes."""
        if route.model and route.model != model:
            body = body if body is not None else _parse(prepared.body)
            body["model"] = route.model
            prepared.body = jsonio.dumps(body)
        backend = route.backend
        if backend is None:
            return
        headers: CIMultiDict[str] = prepared.headers
        client_sent_key = "x-api-key" in request.headers or "authorization" in request.headers
        if backend.api_key:
            headers.popall("authorization", None)
            headers["x-api-key"] = backend.api_key
        elif not client_sent_key:
            headers.popall("x-api-key", None)  # the upstream's own key is not for another backend
        headers.update(backend.headers)

    def _models(self, request: web.Request, path: str, entry: LogEntry) -> Dispatch:
        names = self.router.model_names()
        if path.rstrip("/") == MODELS_PATH:
            entry.status = 200
            return Dispatch(response=web.json_response(self.router.models_page(), headers={ID_HEADER: entry.id}))
        name = path[len(MODELS_PATH) + 1:]
        if name in names or self.router.route(name).kind == "openai":
            entry.status = 200
            return Dispatch(response=web.json_response(self.router.model_info(name), headers={ID_HEADER: entry.id}))
        return Dispatch()


def _parse(raw: bytes) -> dict[str, Any]:
    return parse_object(raw, "routing")
