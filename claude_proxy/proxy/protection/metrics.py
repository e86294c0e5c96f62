"""Prometheus metrics for the proxy, served on ``/metrics`` by ``prometheus_client``.

Each app gets its own registry, so tests and several apps in one process never
share counters. Label values a client controls (the model name) are capped: past
``MAX_MODELS`` distinct names the rest count as ``other``, so a hostile client
cannot grow the metrics without bound.

The per-exchange series (requests, latency, time to first byte, tokens) are kept
in plain counters updated on the event loop, without the locks the library's
metric objects take, and turned into Prometheus families only when scraped: they
are touched on every request, so they must cost next to nothing.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Iterator, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

MAX_MODELS = 200
MAX_PATHS = 10_000
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


class _Histogram:
    """One labelled histogram series: per-bucket counts and a sum."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
        return out


class _Exchanges(Collector):
    """Requests, latency, time to first byte and tokens, exposed at scrape time."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, str], int] = {}
        self.latency: dict[tuple[str, str], _Histogram] = {}
        self.ttfb: dict[tuple[str, str], _Histogram] = {}
        self.tokens: dict[tuple[str, str], int] = {}

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("claude_proxy_requests", "Requests answered, by endpoint, route, model "
                                       "and status", labels=["endpoint", "route", "model", "status"])
        for labels, count in list(self.requests.items()):
            requests.add_metric(list(labels), count)
        yield requests
        for name, doc, series in (
                ("claude_proxy_request_duration_seconds", "Time from request to last byte", self.latency),
                ("claude_proxy_time_to_first_byte_seconds",
                 "Time from request to the first response byte sent to the client", self.ttfb)):
            family = HistogramMetricFamily(name, doc, labels=["endpoint", "route"])
            for series_labels, hist in list(series.items()):
                family.add_metric(list(series_labels), hist.buckets(), hist.total)
            yield family
        tokens = CounterMetricFamily("claude_proxy_tokens", "Tokens reported by the upstream's usage",
                                     labels=["model", "kind"])
        for token_labels, token_count in list(self.tokens.items()):
            tokens.add_metric(list(token_labels), token_count)
        yield tokens


class ProxyMetrics:
    """The proxy's counters, gauges and histograms, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.exchanges = _Exchanges()
        r.register(self.exchanges)
        self.in_flight = Gauge("claude_proxy_requests_in_flight", "Requests being answered now", registry=r)
        self.queued = Gauge("claude_proxy_requests_queued", "Requests waiting for an upstream slot", registry=r)
        self.retries = Counter("claude_proxy_upstream_retries", "Upstream attempts retried, by the failure seen",
                               ["reason"], registry=r)
        self.fallbacks = Counter("claude_proxy_fallbacks", "Requests moved to a fallback route",
                                 ["from_route", "to_route"], registry=r)
        self.rejected = Counter("claude_proxy_rejected", "Requests the proxy refused itself, by reason",
                                ["reason"], registry=r)
        self.limit_store_errors = Counter("claude_proxy_limit_store_errors",
                                          "Rate-limit checks the shared store (SQLite or Redis) failed",
                                          registry=r)
        self.log_queue = Gauge("claude_proxy_log_queue_depth", "Request-log entries waiting to be written",
                               registry=r)
        self._models: set[str] = set()
        self._endpoints: dict[str, str] = {}

    def model_label(self, model: str | None) -> str:
        if not model:
            return "none"
        if model in self._models:
            return model
        if len(self._models) >= MAX_MODELS:
            return "other"
        self._models.add(model)
        return model

    def _endpoint(self, path: str) -> str:
        endpoint = self._endpoints.get(path)
        if endpoint is None:
            endpoint = endpoint_of(path)
            if len(self._endpoints) < MAX_PATHS:
                self._endpoints[path] = endpoint
        return endpoint

    def observe(self, *, path: str, route: str | None, model: str | None, status: int,
                duration_s: float | None = None, ttfb_s: float | None = None,
                usage: Mapping[str, int] | None = None) -> None:
        """Record one finished exchange (on the event loop: plain counters, no locks)."""
        ex = self.exchanges
        endpoint = self._endpoint(path)
        route_label = route or "default"
        model_label = self.model_label(model)
        key = (endpoint, route_label, model_label, str(status))
        ex.requests[key] = ex.requests.get(key, 0) + 1
        series = (endpoint, route_label)
        if duration_s is not None:
            hist = ex.latency.get(series)
            if hist is None:
                hist = ex.latency[series] = _Histogram(LATENCY_BUCKETS)
            hist.observe(duration_s)
        if ttfb_s is not None:
            hist = ex.ttfb.get(series)
            if hist is None:
                hist = ex.ttfb[series] = _Histogram(TTFB_BUCKETS)
            hist.observe(ttfb_s)
        if usage:
            for kind, count in usage.items():
                if count:
                    token_key = (model_label, kind.removesuffix("_tokens"))
                    ex.tokens[token_key] = ex.tokens.get(token_key, 0) + count

    def retried(self, status: int | None) -> None:
        """Count one retried attempt; connection failures have no status."""
        self.retries.labels(str(status) if status is not None else "connection").inc()

    def fell_back(self, from_route: str, to_route: str) -> None:
        self.fallbacks.labels(from_route, to_route).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
