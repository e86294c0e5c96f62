"""The forwarding handler: one client request -> one upstream request -> the same bytes back.

The path, in stages other features wrap or replace:
1. `prepare`: loop check, then rewrite the body only if a rule wants it (the protection
   middleware has already read it, under its size cap, into the request's `Exchange`).
2. routing, when routes exist: it may answer itself (a translated backend) or pick the
   upstream and adjust the request.
3. ``send_resilient``: send until the upstream's headers arrive, with retries and
   fallbacks (raises `ProxyError` before any byte is sent).
4. `relay`: stream the upstream body to the client chunk by chunk as it arrives.
Every stage fills the exchange's `LogEntry`; the middleware that opened it logs it.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from claude_proxy.proxy.errors import ProxyError, error_body, error_response
from claude_proxy.proxy.exchange import EXCHANGE, Exchange, Prepared
from claude_proxy.proxy.headers import ID_HEADER, ROUTE_HEADER, seen_hops, upstream_request_headers
from claude_proxy.proxy.hooks import HookContext
from claude_proxy.proxy.relay import CLIENT_CLOSED, relay
from claude_proxy.proxy.resilience import send_resilient
from claude_proxy.proxy.state import MAX_HOPS, STATE, ProxyState

log = logging.getLogger(__name__)


async def forward(request: web.Request) -> web.StreamResponse:
    """aiohttp handler for every ``/v1/...`` route."""
    state = request.app[STATE]
    exchange = request[EXCHANGE]
    entry = exchange.entry
    try:
        prepared = await prepare(request, state, exchange)
        upstream, extra, route = state.upstream, None, None
        if state.routing.active:
            routed = await state.routing.dispatch(request, prepared, exchange)
            if routed.response is not None:
                return routed.response
            upstream, extra, route = routed.upstream or upstream, routed.headers, routed.route
            entry.request_body = prepared.body
        response = await send_resilient(request, state, upstream, prepared, exchange, route)
        if isinstance(response, web.StreamResponse):  # a fallback to a translated backend answered
            return response
        if extra is not None and entry.route:  # after a fallback: the route that answered
            extra = {**extra, ROUTE_HEADER: entry.route}
        return await relay(request, response, exchange, state.log_cap, extra)
    except ProxyError as exc:
        entry.status = exc.status
        entry.error = exc.message
        entry.response_body = error_body(exc.error_type, exc.message)
        log.debug("%s %s -> %d %s", request.method, request.raw_path, exc.status, exc.message)
        route_header = {ROUTE_HEADER: entry.route} if entry.route else {}
        return error_response(exc.status, exc.message, exc.error_type,
                              headers={**exc.headers, ID_HEADER: entry.id, **route_header})
    except asyncio.CancelledError:
        stopping = state.activity.stopping
        if not stopping:
            entry.status = CLIENT_CLOSED
        entry.error = entry.error or ("cancelled: the proxy was shutting down" if stopping
                                      else "client disconnected")
        raise
    except Exception as exc:  # the HTTP edge: a bug must still answer in Anthropic's shape
        log.exception("%s %s failed inside the proxy", request.method, request.raw_path)
        message = f"internal proxy error: {type(exc).__name__}"
        entry.status, entry.error = 500, message
        return error_response(500, message, headers={ID_HEADER: entry.id})


async def prepare(request: web.Request, state: ProxyState, exchange: Exchange) -> Prepared:
    """Check and (only if a rule applies) rewrite the client's request."""
    entry = exchange.entry
    hops = seen_hops(request.headers)
    if state.hop_token in hops or len(hops) >= MAX_HOPS:
        raise ProxyError(508, f"proxy loop detected: the request came back to this proxy after "
                              f"{len(hops)} hop(s); upstream.base_url ({state.upstream.base_url}) "
                              "must not point at the proxy itself")
    body = exchange.body
    entry.request_body = body  # as received: kept in the row even when a rule refuses the body
    rewriter = state.rewriter
    if body and rewriter.active and rewriter.wants(request.method, request.path, request.content_type):
        if request.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise ProxyError(400, "cannot apply rewrite rules to a content-encoded request body")
        context = HookContext(method=request.method, path=request.path, query=request.query_string,
                              headers=request.headers, client=request.remote, request_id=entry.id)
        result = await rewriter.apply(body, context)
        body = result.body
        entry.requested_model = result.requested_model
        entry.upstream_model = result.upstream_model
    headers = upstream_request_headers(request.headers, api_key=state.api_key, hop_token=state.hop_token)
    if state.request_log is not None:  # a copy only when someone will read it
        entry.request_headers = dict(headers)
    entry.request_body = body
    entry.request_size = len(body)
    return Prepared(request.method, request.raw_path, headers, body)


async def not_found(request: web.Request) -> web.Response:
    """Anything outside ``/v1/`` and ``/health``: an Anthropic-shaped 404."""
    return error_response(404, f"claude-proxy serves /v1/... and /health; not {request.path}")

