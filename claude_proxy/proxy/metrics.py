"""Prometheus metrics for the proxy, served on ``/metrics`` by ``prometheus_client``.

Each app gets its own registry, so tests and several apps in one process never
share counters. Label values a client controls (the model name) are capped: past
``MAX_MODELS`` distinct names the rest count as ``other``, so a hostile client
cannot grow the metrics without bound.
"""

from __future__ import annotations

from typing import Any, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

MAX_MODELS = 200
MAX_CHILDREN = 10_000
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
TTFB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
KNOWN_ENDPOINTS = ("/v1/messages/count_tokens", "/v1/messages/batches", "/v1/messages", "/v1/models", "/v1/files")


def endpoint_of(path: str) -> str:
    """A bounded label for a request path (ids and query strings dropped)."""
    path = path.split("?", 1)[0].rstrip("/")
    for known in KNOWN_ENDPOINTS:
        if path == known or path.startswith(known + "/"):
            return known
    return "/v1/other" if path.startswith("/v1/") else "other"


class ProxyMetrics:
    """The proxy's counters, gauges and histograms, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("claude_proxy_requests", "Requests answered, by endpoint, route, model and status",
                                ["endpoint", "route", "model", "status"], registry=r)
        self.latency = Histogram("claude_proxy_request_duration_seconds", "Time from request to last byte",
                                 ["endpoint", "route"], buckets=LATENCY_BUCKETS, registry=r)
        self.ttfb = Histogram("claude_proxy_time_to_first_byte_seconds",
                              "Time from request to the first response byte sent to the client",
                              ["endpoint", "route"], buckets=TTFB_BUCKETS, registry=r)
        self.tokens = Counter("claude_proxy_tokens", "Tokens reported by the upstream's usage",
                              ["model", "kind"], registry=r)
        self.in_flight = Gauge("claude_proxy_requests_in_flight", "Requests being answered now", registry=r)
        self.queued = Gauge("claude_proxy_requests_queued", "Requests waiting for an upstream slot", registry=r)
        self.retries = Counter("claude_proxy_upstream_retries", "Upstream attempts retried, by the failure seen",
                               ["reason"], registry=r)
        self.fallbacks = Counter("claude_proxy_fallbacks", "Requests moved to a fallback route",
                                 ["from_route", "to_route"], registry=r)
        self.rejected = Counter("claude_proxy_rejected", "Requests the proxy refused itself, by reason",
                                ["reason"], registry=r)
        self.log_queue = Gauge("claude_proxy_log_queue_depth", "Request-log entries waiting to be written",
                               registry=r)
        self._models: set[str] = set()
        self._children: dict[tuple[str, ...], tuple[Any, Any, Any]] = {}
        self._token_children: dict[tuple[str, str], Any] = {}

    def model_label(self, model: str | None) -> str:
        if not model:
            return "none"
        if model in self._models:
            return model
        if len(self._models) >= MAX_MODELS:
            return "other"
        self._models.add(model)
        return model

    def observe(self, *, path: str, route: str | None, model: str | None, status: int,
                duration_s: float | None = None, ttfb_s: float | None = None,
                usage: Mapping[str, int] | None = None) -> None:
        """Record one finished exchange."""
        model_label = self.model_label(model)
        key = (path, route or "default", model_label, str(status))
        children = self._children.get(key)
        if children is None:  # labels() is the costly part: resolve each combination once
            endpoint = endpoint_of(path)
            children = (self.requests.labels(endpoint, key[1], model_label, key[3]),
                        self.latency.labels(endpoint, key[1]), self.ttfb.labels(endpoint, key[1]))
            if len(self._children) < MAX_CHILDREN:
                self._children[key] = children
        requests, latency, ttfb = children
        requests.inc()
        if duration_s is not None:
            latency.observe(duration_s)
        if ttfb_s is not None:
            ttfb.observe(ttfb_s)
        for kind, count in (usage or {}).items():
            if count:
                token_key = (model_label, kind)
                child = self._token_children.get(token_key)
                if child is None:
                    child = self._token_children[token_key] = self.tokens.labels(model_label,
                                                                                 kind.removesuffix("_tokens"))
                child.inc(count)

    def retried(self, status: int | None) -> None:
        """Count one retried attempt; connection failures have no status."""
        self.retries.labels(str(status) if status is not None else "connection").inc()

    def fell_back(self, from_route: str, to_route: str) -> None:
        self.fallbacks.labels(from_route, to_route).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
