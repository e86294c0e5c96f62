"""Everything the request handlers share, built once at start from the settings."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from aiohttp import web

from claude_proxy.proxy.exchange import Activity
from claude_proxy.proxy.hooks import load_hooks
from claude_proxy.proxy.protection.metrics import ProxyMetrics
from claude_proxy.proxy.rewrite import Rewriter
from claude_proxy.proxy.routing.dispatch import Routing
from claude_proxy.proxy.upstream.client import Upstream
from claude_proxy.proxy.upstream.retry import RetryPolicy
from claude_proxy.requestlog.entry import RequestLog
from claude_proxy.settings import Settings, SettingsError

MAX_HOPS = 8


@dataclass
class ProxyState:
    """Per-process proxy state: the upstream pool, compiled rules, routing, the log, counters."""

    settings: Settings
    upstream: Upstream
    rewriter: Rewriter
    request_log: RequestLog | None
    api_key: str | None
    routing: Routing
    retry_policy: RetryPolicy
    metrics: ProxyMetrics
    activity: Activity = field(default_factory=Activity)
    hop_token: str = field(default_factory=lambda: os.urandom(6).hex())
    started_at: float = field(default_factory=time.time)
    log_cap: int = 0

    @classmethod
    def from_settings(cls, settings: Settings, request_log: RequestLog | None = None) -> ProxyState:
        up = settings.upstream
        try:
            upstream = Upstream(up.base_url, connect_timeout=up.connect_timeout,
                                read_timeout=up.read_timeout, pool_size=up.pool_size)
        except ValueError as exc:
            raise SettingsError(f"upstream.base_url: {exc}") from None
        rewriter = Rewriter(settings.rewrite, load_hooks(settings.rewrite.hooks))
        log_cap = settings.log.max_body_bytes + 1  # one byte past the limit marks a cut body
        routing = Routing(settings, upstream, log_cap=log_cap)
        return cls(settings=settings, upstream=upstream, rewriter=rewriter, request_log=request_log,
                   api_key=settings.upstream_key(), routing=routing,
                   retry_policy=RetryPolicy.from_settings(up), metrics=ProxyMetrics(), log_cap=log_cap)


STATE: web.AppKey[ProxyState] = web.AppKey("claude_proxy_state", ProxyState)
