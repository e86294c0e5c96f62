"""Sending upstream with retries and fallbacks: what ``forward`` calls instead of ``send``.

``send_resilient`` wraps "send until the response headers arrive" (nothing has
reached the client yet, so another try is invisible to it): each target is tried
under the retry policy, and when the answer is still retryable the route's
fallbacks follow in order. Every attempt lands in the log entry
(``attempts`` and ``attempt_log``) and in the metrics.

Fallbacks apply to a request whose model names a route in ``routes:`` (exact
name, then glob, then ``default``) that lists ``fallbacks``. The primary goes
where the proxy would send it anyway (``state.select_upstream``); each fallback
goes to its route's backend with its route's model put in the body. Only
``kind: anthropic`` backends can be fallbacks here: the body is passed on in the
Anthropic format.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Mapping

from aiohttp import web
from multidict import CIMultiDict

from claude_proxy.proxy.access import use_upstream_key
from claude_proxy.proxy.errors import ProxyError
from claude_proxy.proxy.fallbacks import check_fallbacks, fallback_chain, send_with_fallbacks
from claude_proxy.proxy.protection import PROTECTION
from claude_proxy.proxy.retry import Outcome, RetryPolicy, send_with_retries
from claude_proxy.proxy.upstream import Upstream
from claude_proxy.settings import SettingsError

if TYPE_CHECKING:
    import aiohttp

    from claude_proxy.proxy.requestlog import LogEntry
    from claude_proxy.proxy.state import ProxyState

log = logging.getLogger(__name__)

UPSTREAM_BACKEND = "upstream"  # a route's backend name for the ``upstream:`` section, as routing calls it


def route_for_model(routes: Mapping[str, Any], model: str | None) -> str | None:
    """The route a requested model uses: its exact name, else the first glob that matches, else ``default``."""
    if model and model in routes:
        return model
    if model:
        for name in routes:
            if any(ch in name for ch in "*?[") and fnmatch.fnmatchcase(model, name):
                return name
    return "default" if "default" in routes else None


def _requested_model(body: bytes) -> str | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    model = parsed.get("model") if isinstance(parsed, dict) else None
    return model if isinstance(model, str) else None


def _with_model(body: bytes, model: str | None) -> bytes:
    """The body with its ``model`` replaced (re-serialised only when it changes)."""
    if model is None:
        return body
    parsed = json.loads(body)
    if parsed.get("model") == model:
        return body
    parsed["model"] = model
    return json.dumps(parsed, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Target:
    """One place to send the request: a route's upstream, headers and body."""

    name: str
    upstream: Upstream
    headers: CIMultiDict[str]
    body: bytes
    model: str | None = None
    label: str | None = None  # ``backend/model`` for the log's route column, as routing writes it


class BackendUpstreams:
    """Connection pools for the ``backends:`` that fallbacks send to, opened on first use."""

    def __init__(self, state: "ProxyState") -> None:
        self.state = state
        self.has_fallbacks = any(route.fallbacks for route in state.settings.routes.values())
        self._pools: dict[str, Upstream] = {}

    async def get(self, name: str) -> Upstream:
        pool = self._pools.get(name)
        if pool is None:
            backend = self.state.settings.backends[name]
            up = self.state.settings.upstream
            pool = Upstream(backend.base_url, connect_timeout=up.connect_timeout,
                            read_timeout=backend.timeout, pool_size=up.pool_size)
            await pool.start()
            self._pools[name] = pool
        return pool

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()


BACKENDS = web.AppKey("claude_proxy.backend_upstreams", BackendUpstreams)


def install(app: web.Application, state: "ProxyState") -> None:
    """Check the fallbacks and give the app their pools, closed with the app."""
    try:
        check_fallbacks(state.settings.routes)
    except ValueError as exc:
        raise SettingsError(f"{state.settings.source or 'settings'}: {exc}") from None
    app[BACKENDS] = BackendUpstreams(state)

    async def _close(app: web.Application) -> None:
        await app[BACKENDS].close()

    app.on_cleanup.append(_close)


async def _targets(request: web.Request, state: "ProxyState", upstream: Upstream, method: str,
                   headers: CIMultiDict[str], body: bytes) -> list[Target]:
    primary = Target("upstream", upstream, headers, body)
    pools = request.app.get(BACKENDS)
    if pools is None or not pools.has_fallbacks or method != "POST" \
            or not request.path.startswith("/v1/messages") or request.path.endswith("/count_tokens"):
        return [primary]
    routes = state.settings.routes
    requested = _requested_model(body)
    route = route_for_model(routes, requested)
    if route is None or not routes[route].fallbacks:
        return [primary]
    primary.name = route
    targets = [primary]
    for name in fallback_chain(routes, route)[1:]:
        fallback = routes[name]
        label = f"{fallback.backend}/{fallback.model or requested or ''}"
        fallback_body = _with_model(body, fallback.model)
        backend = state.settings.backends.get(fallback.backend)
        if backend is None and fallback.backend == UPSTREAM_BACKEND:  # the pass-through upstream itself
            targets.append(Target(name, state.upstream, headers, fallback_body, fallback.model, label=label))
            continue
        if backend is None or backend.kind != "anthropic":
            log.warning("fallback route %s skipped: only anthropic backends can take a pass-through "
                        "request", name)
            continue
        out = CIMultiDict(headers)
        if backend.api_key:
            use_upstream_key(out, backend.api_key)
        for key, value in backend.headers.items():
            out[key] = value
        targets.append(Target(name, await pools.get(fallback.backend), out, fallback_body, fallback.model,
                              label=label))
    return targets


async def _discard(response: "aiohttp.ClientResponse") -> None:
    response.close()


def _status_of(response: "aiohttp.ClientResponse") -> tuple[int, Mapping[str, str]]:
    return response.status, response.headers


async def send_resilient(request: web.Request, state: "ProxyState", upstream: Upstream, method: str,
                         path_qs: str, headers: CIMultiDict[str], body: bytes,
                         entry: "LogEntry") -> "aiohttp.ClientResponse":
    """Send to ``upstream`` with retries, then the route's fallbacks, until response headers arrive.

    Raises the last ``ProxyError`` when every try failed to connect. Fills
    ``entry.attempts``, ``entry.attempt_log`` and, after a fallback, ``entry.route``
    (``backend/model``) and ``entry.upstream_model``.
    """
    protection = request.app.get(PROTECTION)
    policy = protection.retry_policy if protection else RetryPolicy.from_settings(state.settings.upstream)
    metrics = protection.metrics if protection else None
    targets = await _targets(request, state, upstream, method, headers, body)
    by_name = {t.name: t for t in targets}
    on_retry = (lambda a: metrics.retried(a.status)) if metrics else None

    def send_route(name: str, first_number: int) -> Awaitable[Outcome["aiohttp.ClientResponse"]]:
        target = by_name[name]

        async def send() -> "aiohttp.ClientResponse":
            return await target.upstream.send(method, path_qs, target.headers, target.body)

        return send_with_retries(
            send, policy, status_of=_status_of, discard=_discard, retry_on=(ProxyError,),
            target=name if len(targets) > 1 else None, first_number=first_number, on_retry=on_retry)

    def fell_back(old: str, new: str) -> None:
        if metrics is not None:
            metrics.fell_back(old, new)

    if len(targets) == 1:  # the usual case: no fallbacks to walk
        answered, outcome = targets[0].name, await send_route(targets[0].name, 1)
    else:
        answered, outcome = await send_with_fallbacks([t.name for t in targets], send_route,
                                                      discard=_discard, on_fallback=fell_back)
    _record(entry, outcome, by_name[answered], answered != targets[0].name, request)
    if outcome.error is not None:
        raise outcome.error
    assert outcome.response is not None
    return outcome.response


def _record(entry: "LogEntry", outcome: Outcome, target: Target, fell_back: bool, request: web.Request) -> None:
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
