"""The protective layer around the proxy's ``/v1`` handler: one middleware and two routes.

``Protection.install(app)`` adds, without the forwarding code knowing:

- access keys (401); the client's credentials are removed so the proxy sends its own,
- the request body read under a size cap (413) and a deadline (408), kept on the
  request's `Exchange` for the handler so it is read once,
- per-key rate limits (429 with ``retry-after``),
- the concurrency cap with its short queue (529 ``overloaded_error``),
- metrics for every exchange, ``/metrics`` and ``/health/ready``.

The middleware opens each request's `Exchange` and closes it: whatever the handler
filled in (status, model, route, timings, the response's ends for the token counts)
goes to the metrics, and the entry to the request log. A refused request never
reaches the handler, so its entry is filled here. Retries and fallbacks are counted
on ``metrics`` by ``resilience``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from typing import TYPE_CHECKING, Awaitable, Callable

from aiohttp import web
from multidict import CIMultiDict

from claude_proxy.proxy.errors import ProxyError, error_body, error_response
from claude_proxy.proxy.exchange import EXCHANGE, Activity, Exchange
from claude_proxy.proxy.headers import ID_HEADER
from claude_proxy.proxy.protection.access import AccessKeys, presented_key, use_upstream_key
from claude_proxy.proxy.protection.buckets import StoreUnavailable
from claude_proxy.proxy.protection.limits import ConcurrencyGate, read_body
from claude_proxy.proxy.protection.metrics import ProxyMetrics
from claude_proxy.proxy.protection.metricsgroup import WorkerMetrics, workers_dir
from claude_proxy.proxy.protection.ratelimit import RateLimiter, estimate_input_tokens
from claude_proxy.proxy.protection.readiness import UpstreamProbe, readiness
from claude_proxy.proxy.protection.usage import extract_usage
from claude_proxy.requestlog.entry import LogEntry, RequestLog

if TYPE_CHECKING:
    from claude_proxy.proxy.protection.redisgate import RedisSlots
    from claude_proxy.settings import Settings

log = logging.getLogger(__name__)

USAGE_EDGE = 4096
BIG_BODY = 1 << 20  # past this, scanning the body for the token estimate leaves the event loop
_MODEL_FIELD = re.compile(rb'"model"\s*:\s*"([^"]{1,200})"')

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_protected(path: str) -> bool:
    return path.startswith("/v1/") or path == "/v1"


class Protection:
    """Keys, limits, metrics and readiness for one proxy app, built from the settings."""

    def __init__(self, settings: Settings, request_log: RequestLog | None, metrics: ProxyMetrics,
                 activity: Activity, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.request_log = request_log
        self.activity = activity
        self.keys = AccessKeys.from_settings(settings.server, env)
        self.upstream_key: str | None = settings.upstream_key()
        self.metrics = metrics
        self.limiter = RateLimiter.from_settings(settings.limits, store_failed=metrics.limit_store_errors.inc)
        self.gate = ConcurrencyGate.from_settings(settings.limits)
        self.shared_gate: RedisSlots | None = None
        self.group: WorkerMetrics | None = None
        if settings.limits.max_concurrent_total:
            from claude_proxy.proxy.protection.redisgate import RedisSlots

            assert settings.limits.shared_state is not None  # the settings check this
            self.shared_gate = RedisSlots(settings.limits.shared_state, settings.limits.max_concurrent_total)
        urls = [settings.upstream.base_url, *(b.base_url for b in settings.backends.values())]
        self.probes = [UpstreamProbe(url, timeout=min(settings.upstream.connect_timeout, 2.0))
                       for url in dict.fromkeys(urls)]
        if request_log is not None:
            self.metrics.log_queue.set_function(lambda: float(request_log.queue_depth))
        self.metrics.queued.set_function(lambda: float(self.gate.waiting))
        self.metrics.in_flight.set_function(lambda: float(activity.in_flight))
        if self.keys.enabled and not self.upstream_key:
            log.warning("access keys are set but no upstream key is configured: "
                        "requests reach the upstream without credentials")

    def install(self, app: web.Application) -> None:
        """Add the middleware, ``/metrics`` and ``/health/ready``."""
        app.middlewares.append(self.middleware)
        app.router.add_get("/health/ready", self.ready)
        if self.settings.limits.metrics:
            app.router.add_get("/metrics", self.metrics_handler)
            directory = workers_dir()
            if directory is not None:
                self.group = WorkerMetrics(directory, lambda: self.metrics.render()[0])
                app.on_startup.append(self.group.start)
                app.on_cleanup.append(self.group.stop)
        app.on_cleanup.append(self._close)

    async def _close(self, app: web.Application) -> None:
        if self.limiter.remote is not None:
            await self.limiter.remote.close()
        if self.shared_gate is not None:
            await self.shared_gate.close()

    async def _shared_slot(self) -> str | None:
        """A lease under ``limits.max_concurrent_total``, waiting up to the queue timeout, else 529."""
        if self.shared_gate is None:
            return None
        try:
            lease = await self.shared_gate.take(self.settings.limits.queue_timeout)
        except StoreUnavailable as exc:
            self.limiter.store_unavailable(exc)
            return None
        if lease is None:
            raise ProxyError(529, f"the proxy is overloaded ({self.shared_gate.limit} requests in flight across "
                                  "all instances); retry shortly", headers={"retry-after": "1"})
        return lease

    # --- the middleware -------------------------------------------------------------------
    def _limit_key(self, request: web.Request, label: str | None) -> str:
        """Whose allowance a request uses: the access key, else the client's own key, else its address."""
        if label is not None:
            return label
        key = presented_key(request.headers)
        if key:
            return "client:" + hashlib.sha256(key.encode()).hexdigest()[:16]
        return f"addr:{request.remote}"

    async def _admit(self, request: web.Request, exchange: Exchange) -> web.Request:
        """Authenticate, read the body, apply the rate limits; the request to hand on."""
        label = self.keys.identify(request.headers)
        if label is not None:
            headers = CIMultiDict(request.headers)
            # strip the client's credentials: the forwarding code then adds the proxy's own key, the
            # way it does for any client that sent none (so routing never passes it to another backend)
            use_upstream_key(headers, None)
            request = request.clone(headers=headers)
            exchange.client = label
        if request.body_exists:
            limits = self.settings.limits
            exchange.body = await read_body(request, self.settings.server.max_body_size, limits.body_timeout)
        if self.limiter.enabled:
            body = exchange.body
            tokens = 0
            if self.limiter.counts_tokens and body:
                tokens = (estimate_input_tokens(body) if len(body) <= BIG_BODY
                          else await asyncio.to_thread(estimate_input_tokens, body))
            await self.limiter.acquire(self._limit_key(request, label), tokens)
        return request

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _is_protected(request.path):
            return await handler(request)
        exchange = Exchange.begin(request)
        status = 500
        response: web.StreamResponse | None = None
        self.activity.in_flight += 1  # admitted, queued or being answered
        try:
            try:
                request = await self._admit(request, exchange)
                request[EXCHANGE] = exchange
                await self.gate.acquire()
                lease: str | None = None
                try:
                    lease = await self._shared_slot()
                    response = await handler(request)
                finally:
                    if lease is not None and self.shared_gate is not None:
                        self.shared_gate.release(lease)
                    self.gate.release()
            except ProxyError as exc:
                response = self._reject(request, exchange, exc)
            if exchange.entry.status is None:  # answered without the forwarding handler (a 404)
                exchange.entry.status = response.status
            status = exchange.entry.status
            return response
        except asyncio.CancelledError:
            status = 499
            entry = exchange.entry
            if entry.status is None and entry.error is None and not self.activity.stopping:
                entry.status, entry.error = 499, "client disconnected"  # before the handler had it
            raise
        finally:
            self.activity.in_flight -= 1
            self._observe(request, exchange, status, response)
            self._record(exchange.finish())

    def _record(self, entry: LogEntry) -> None:
        """Hand an exchange to the request log; never raises into a request."""
        if self.request_log is None:
            return
        try:
            self.request_log.record(entry)
        except Exception:  # the log must never break the proxy
            log.exception("request log rejected entry %s", entry.id)

    def _reject(self, request: web.Request, exchange: Exchange, exc: ProxyError) -> web.Response:
        """Answer a refused request; its entry is logged like any exchange (headers masked by the writer)."""
        self.metrics.rejected.labels(exc.error_type).inc()
        entry = exchange.entry
        entry.status, entry.error, entry.attempts = exc.status, exc.message, 0
        entry.request_headers = dict(request.headers)
        entry.request_body = exchange.body
        entry.response_body = error_body(exc.error_type, exc.message)
        response = error_response(exc.status, exc.message, exc.error_type,
                                  headers={**exc.headers, ID_HEADER: entry.id})
        if exc.status in (408, 413):
            response.force_close()  # the rest of the body is not worth reading
        return response

    def _observe(self, request: web.Request, exchange: Exchange, status: int,
                 response: web.StreamResponse | None) -> None:
        entry = exchange.entry
        elapsed = exchange.elapsed()
        ttfb = entry.ttfb_ms / 1000 if entry.ttfb_ms is not None else None
        if ttfb is None and response is not None and not response.prepared:
            ttfb = elapsed  # a whole response about to be sent: its first byte goes out now
        model = entry.requested_model
        if model is None:
            match = _MODEL_FIELD.search(exchange.body[:4096])
            model = match.group(1).decode("utf-8", "replace") if match else None
        body = usage_sample(entry.response_body, entry.response_tail)
        if not body and isinstance(response, web.Response) and isinstance(response.body, bytes):
            body = response.body
        usage = extract_usage(body) if body and 200 <= status < 300 else None
        self.metrics.observe(path=request.path, route=entry.route, model=model, status=status,
                             duration_s=elapsed, ttfb_s=ttfb, usage=usage)

    # --- the routes -----------------------------------------------------------------------
    async def ready(self, request: web.Request) -> web.Response:
        log_ = self.request_log
        status, body = await readiness(
            self.probes,
            log_healthy=bool(log_.healthy) if log_ is not None else True,
            log_queue=int(log_.queue_depth) if log_ is not None else 0,
            in_flight=self.activity.in_flight,
            queued=self.gate.waiting,
            stopping=self.activity.stopping,
        )
        return web.json_response(body, status=status)

    async def metrics_handler(self, request: web.Request) -> web.Response:
        try:
            self.keys.identify(request.headers)
        except ProxyError as exc:
            return error_response(exc.status, exc.message, exc.error_type)
        text, content_type = self.metrics.render()
        if self.group is not None:
            text = await self.group.scrape()
        response = web.Response(body=text)
        response.headers["content-type"] = content_type
        return response


def usage_sample(body: bytes, tail: bytes = b"", edge: int = USAGE_EDGE) -> bytes:
    """The parts of a response that carry its usage: the start (``message_start``) and the end.

    Keeps the metrics off a long body: scanning a megabyte stream would hold the event loop.
    """
    if not tail and len(body) <= 2 * edge:
        return body
    return body[:edge] + b"\n" + (tail or body)[-edge:]
