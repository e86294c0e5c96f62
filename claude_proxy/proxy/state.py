"""Everything the request handlers share, built once at start from the settings."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

from aiohttp import web

from claude_proxy.proxy.hooks import load_hooks
from claude_proxy.requestlog.entry import LogEntry
from claude_proxy.requestlog.entry import RequestLog
from claude_proxy.proxy.rewrite import Rewriter
from claude_proxy.proxy.routing.dispatch import Routing
from claude_proxy.proxy.upstream.client import Upstream
from claude_proxy.settings import Settings, SettingsError

log = logging.getLogger(__name__)

MAX_HOPS = 8


@dataclass
class ProxyState:
    """Per-process proxy state: the upstream pool, compiled rules, the log, counters."""

    settings: Settings
    upstream: Upstream
    rewriter: Rewriter
    request_log: RequestLog | None
    api_key: str | None
    routing: Routing
    hop_token: str = field(default_factory=lambda: os.urandom(6).hex())
    started_at: float = field(default_factory=time.time)
    in_flight: int = 0
    stopping: bool = False
    log_cap: int = 0

    @classmethod
    def from_settings(cls, settings: Settings, request_log: RequestLog | None = None) -> "ProxyState":
        up = settings.upstream
        try:
            upstream = Upstream(up.base_url, connect_timeout=up.connect_timeout,
                                read_timeout=up.read_timeout, pool_size=up.pool_size)
        except ValueError as exc:
            raise SettingsError(f"upstream.base_url: {exc}") from None
        rewriter = Rewriter(settings.rewrite, load_hooks(settings.rewrite.hooks))
        routing = Routing(settings, upstream)
        return cls(settings=settings, upstream=upstream, rewriter=rewriter, request_log=request_log,
                   api_key=settings.upstream_key(), routing=routing, log_cap=settings.log.max_body_bytes + 1)

    def select_upstream(self, method: str, path: str) -> Upstream:
        """The upstream for this request (the seam where model routing plugs in)."""
        return self.upstream

    def record(self, entry: LogEntry) -> None:
        """Hand an exchange to the request log; never raises into a request."""
        if self.request_log is None:
            return
        try:
            self.request_log.record(entry)
        except Exception:  # the log must never break the proxy
            log.exception("request log rejected entry %s", entry.id)


STATE: web.AppKey[ProxyState] = web.AppKey("claude_proxy_state", ProxyState)
