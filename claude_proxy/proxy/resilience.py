"""Sending upstream with retries and fallbacks: what ``forward`` calls instead of ``send``.

``send_resilient`` wraps "send until the response headers arrive" (nothing has
reached the client yet, so another try is invisible to it): the upstream routing
picked is tried under the retry policy, and when the answer is still retryable
the route's ``fallbacks`` follow in order, each with its own retries. Every
attempt lands in the log entry (``attempts``, ``attempt_log``) and the metrics.

A fallback is prepared the way routing prepares any request: the model the route
names, the backend's credentials and headers, built afresh from the client's
headers so one backend's key never reaches another. A fallback to an ``openai``
backend is handed to the translating relay, which answers the client itself, so
it ends the chain.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Awaitable, Mapping

from aiohttp import web
from multidict import CIMultiDict

from claude_proxy.proxy.errors import ProxyError
from claude_proxy.proxy.exchange import Exchange, Prepared
from claude_proxy.proxy.headers import ID_HEADER, upstream_request_headers
from claude_proxy.proxy.jsonbody import dump, parse_object
from claude_proxy.proxy.routing.routes import Route
from claude_proxy.proxy.state import ProxyState
from claude_proxy.proxy.upstream.client import NotSent, Upstream
from claude_proxy.proxy.upstream.fallbacks import fallback_chain, send_with_fallbacks
from claude_proxy.proxy.upstream.http1 import Response as UpstreamResponse
from claude_proxy.proxy.upstream.retry import Attempt, Outcome, send_with_retries
from claude_proxy.requestlog.entry import LogEntry

log = logging.getLogger(__name__)

FALLBACK_PATHS = ("/v1/messages",)


def _with_model(body: bytes, model: str | None) -> bytes:
    """The body with its ``model`` replaced (re-serialised only when it changes)."""
    if model is None:
        return body
    parsed = parse_object(body, "a fallback route")
    if parsed.get("model") == model:
        return body
    parsed["model"] = model
    return dump(parsed)


@dataclass
class Target:
    """One place to send the request: a route's upstream, headers and body."""

    name: str
    upstream: Upstream | None
    headers: CIMultiDict[str]
    body: bytes
    model: str | None = None
    label: str | None = None  # ``backend/model``: the log's route column, as routing writes it
    route: Route | None = None  # set for an ``openai`` fallback, which the translating relay answers


def _fallbacks(request: web.Request, state: ProxyState, prepared: Prepared, route: Route | None,
               requested: str | None) -> list[Target]:
    """The targets after the primary, in the order the route lists them."""
    routing = state.routing
    if route is None or not route.fallbacks or request.method != "POST" or request.path not in FALLBACK_PATHS:
        return []
    targets: list[Target] = []
    for name in fallback_chain(routing.router.routes, route.name)[1:]:
        fallback = routing.router.by_name(name)
        model = fallback.upstream_model(requested)
        try:
            body = _with_model(prepared.body, model)
        except ProxyError:  # not JSON it can rewrite: the primary's answer (a 400, surely) is the client's answer
            return []
        headers = upstream_request_headers(request.headers, api_key=state.api_key, hop_token=state.hop_token)
        copy = dataclasses.replace(prepared, headers=headers, body=body)
        if fallback.kind == "openai":
            targets.append(Target(name, None, headers, body, model, fallback.label(requested), fallback))
            break  # the relay answers the client itself: nothing can follow it
        routing.retarget(request, copy, fallback, model)
        targets.append(Target(name, routing.upstream_for(fallback), copy.headers, copy.body, model,
                              fallback.label(requested)))
    return targets


def _unseen(exc: BaseException) -> bool:
    """A failure before any byte went upstream (no connection): retried even for a retrying client."""
    return isinstance(exc, NotSent)


def _transient(exc: BaseException) -> bool:
    """Upstream unreachable or too slow (502/504), not a request HTTP/1.1 cannot carry (400)."""
    return isinstance(exc, ProxyError) and exc.status in (502, 504)


async def _discard(response: UpstreamResponse) -> None:
    response.close()


def _status_of(response: UpstreamResponse) -> tuple[int, Mapping[str, str]]:
    return response.status, response.headers


async def send_resilient(request: web.Request, state: ProxyState, upstream: Upstream, prepared: Prepared,
                         exchange: Exchange, route: Route | None = None,
                         ) -> UpstreamResponse | web.StreamResponse:
    """Send ``prepared`` to ``upstream`` with retries, then to ``route``'s fallbacks, until headers arrive.

    Returns the upstream response to relay, or, when an ``openai`` fallback took
    over, the response it already gave the client. Raises the last ``ProxyError``
    when every try failed to connect. Fills ``entry.attempts``, ``entry.attempt_log``
    and, after a fallback, ``entry.route`` and ``entry.upstream_model``.
    """
    entry = exchange.entry
    policy, metrics = state.retry_policy.for_request(request.headers), state.metrics
    primary = Target(route.name if route is not None and route.name else "upstream", upstream,
                     prepared.headers, prepared.body)
    targets = [primary, *_fallbacks(request, state, prepared, route, entry.requested_model)]
    by_name = {t.name: t for t in targets}
    method, path_qs = prepared.method, prepared.path_qs

    def on_retry(attempt: Attempt) -> None:
        metrics.retried(attempt.status)

    def send_route(name: str, first_number: int) -> Awaitable[Outcome[UpstreamResponse]]:
        target = by_name[name]

        async def send() -> UpstreamResponse:
            assert target.upstream is not None
            return await target.upstream.send(method, path_qs, target.headers, target.body)

        return send_with_retries(
            send, policy, status_of=_status_of, discard=_discard, retry_on=(ProxyError,),
            unseen=_unseen, transient=_transient,
            target=name if len(targets) > 1 else None, first_number=first_number, on_retry=on_retry)

    sendable = [t for t in targets if t.route is None]
    if len(sendable) == 1:  # the usual case: no fallbacks to walk
        answered, outcome = primary.name, await send_route(primary.name, 1)
    else:
        answered, outcome = await send_with_fallbacks([t.name for t in sendable], send_route,
                                                      discard=_discard, on_fallback=metrics.fell_back)
    translated = targets[-1] if targets[-1].route is not None else None
    if translated is not None and outcome.retryable:
        metrics.fell_back(answered, translated.name)
        if outcome.response is not None:
            await _discard(outcome.response)
        return await _hand_to_relay(request, state, translated, outcome, exchange)
    _record(entry, outcome, by_name[answered], answered != primary.name, request)
    if outcome.error is not None:
        raise outcome.error
    assert outcome.response is not None
    return outcome.response


async def _hand_to_relay(request: web.Request, state: ProxyState, target: Target,
                         outcome: Outcome[UpstreamResponse], exchange: Exchange) -> web.StreamResponse:
    """Let the translating relay answer from an ``openai`` fallback; it fills the entry's route and status."""
    entry = exchange.entry
    tried = outcome.attempts
    entry.attempts = len(tried) + 1
    entry.attempt_log = [a.as_dict() for a in tried] + [{"n": len(tried) + 1, "target": target.name}]
    body = parse_object(target.body, "a fallback route")
    assert target.route is not None
    return await state.routing.relay.messages(request, body, target.route, exchange, headers={ID_HEADER: entry.id})


def _record(entry: LogEntry, outcome: Outcome[UpstreamResponse], target: Target, fell_back: bool,
            request: web.Request) -> None:
    entry.attempts = len(outcome.attempts)
    if len(outcome.attempts) > 1:
        entry.attempt_log = [a.as_dict() for a in outcome.attempts]
    if fell_back:
        entry.route = target.label
        if target.model is not None:
            entry.upstream_model = target.model
    if len(outcome.attempts) > 1:
        summary = ", ".join(f"#{a.number}{' ' + a.target if a.target else ''}: {a.status or a.error}"
                            for a in outcome.attempts)
        log.info("%s %s answered after %d attempts (%s)", request.method, request.raw_path,
                 len(outcome.attempts), summary)
