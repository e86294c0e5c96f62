"""Per-key rate limits: requests per minute and input tokens per minute.

Token buckets, like Anthropic's own limits: each key's bucket holds a minute's
allowance and refills continuously. A request is admitted when the bucket holds
its cost (or is full, so one request larger than the whole allowance can still
pass once); the cost may push the bucket into debt, which later requests wait out.
The state lives in this process (with several workers each keeps its own) unless
``limits.shared_state`` names a SQLite file that every process on the host shares, or
a ``redis://`` URL that every instance on every machine shares. When the shared store
fails, ``limits.on_store_error`` decides: ``allow`` (the default) admits the request,
with a warning and the ``claude_proxy_limit_store_errors`` metric; ``deny`` answers 503.

Input tokens are estimated cheaply from the body bytes (about four bytes a token),
with base64 images counted at a flat rate instead of by their size.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from claude_proxy.proxy.errors import ProxyError
from claude_proxy.proxy.protection.buckets import Bucket, BucketStore, MemoryStore, SqliteStore, StoreUnavailable

if TYPE_CHECKING:
    from claude_proxy.proxy.protection.redisbuckets import RedisBuckets
    from claude_proxy.settings import LimitsSettings

log = logging.getLogger(__name__)
WARN_EVERY = 10.0  # seconds between warnings about a failing shared store

BYTES_PER_TOKEN = 4
TOKENS_PER_IMAGE = 1600
_BASE64_RUN = re.compile(rb'"data"\s*:\s*"[A-Za-z0-9+/=\\]{1024,}"')


def estimate_input_tokens(body: bytes) -> int:
    """A cheap, slightly generous guess at a request's input tokens (no JSON parsing)."""
    size = len(body)
    images = 0
    if size > 4096:
        for match in _BASE64_RUN.finditer(body):
            size -= match.end() - match.start()
            images += 1
    return math.ceil(size / BYTES_PER_TOKEN) + images * TOKENS_PER_IMAGE


@dataclass(frozen=True)
class Limit:
    """A per-minute allowance of requests or input tokens."""

    what: str
    per_minute: int

    @property
    def rate(self) -> float:
        return self.per_minute / 60.0

    def refilled(self, bucket: Bucket | None, now: float) -> float:
        if bucket is None:
            return float(self.per_minute)
        return min(float(self.per_minute), bucket.level + max(now - bucket.stamp, 0.0) * self.rate)

    def wait(self, level: float, cost: float) -> float:
        """Seconds until ``cost`` fits (a cost above the whole allowance needs a full bucket)."""
        need = min(cost, float(self.per_minute))
        return 0.0 if level >= need else (need - level) / self.rate


class RateLimiter:
    """Requests-per-minute and input-tokens-per-minute limits for each access key."""

    def __init__(self, requests_per_minute: int = 0, input_tokens_per_minute: int = 0,
                 clock: Callable[[], float] = time.monotonic, store: BucketStore | None = None,
                 remote: RedisBuckets | None = None, on_store_error: str = "allow",
                 store_failed: Callable[[], None] | None = None) -> None:
        self.requests = Limit("requests", requests_per_minute) if requests_per_minute else None
        self.tokens = Limit("input tokens", input_tokens_per_minute) if input_tokens_per_minute else None
        self.store: BucketStore = store if store is not None else MemoryStore()
        self.remote = remote
        self.on_store_error = on_store_error
        self.store_failed = store_failed
        self._clock = clock
        self._warned_at = -WARN_EVERY

    @classmethod
    def from_settings(cls, limits: LimitsSettings, store_failed: Callable[[], None] | None = None) -> RateLimiter:
        """Per process, or shared through SQLite or Redis when ``limits.shared_state`` is set."""
        shared = limits.shared_state
        store: BucketStore | None = None
        remote: RedisBuckets | None = None
        if shared and shared.startswith(("redis://", "rediss://", "unix://")):
            from claude_proxy.proxy.protection.redisbuckets import RedisBuckets

            remote = RedisBuckets(shared)
        elif shared:
            store = SqliteStore(Path(shared).expanduser())
        return cls(limits.requests_per_minute, limits.input_tokens_per_minute,
                   clock=time.time if store is not None else time.monotonic, store=store, remote=remote,
                   on_store_error=limits.on_store_error, store_failed=store_failed)

    @property
    def enabled(self) -> bool:
        return self.requests is not None or self.tokens is not None

    @property
    def counts_tokens(self) -> bool:
        return self.tokens is not None

    def _costs(self, input_tokens: int) -> list[tuple[Limit, int]]:
        return [(limit, cost) for limit, cost in ((self.requests, 1), (self.tokens, input_tokens))
                if limit is not None and cost]

    def store_unavailable(self, exc: StoreUnavailable) -> None:
        """Apply ``on_store_error``: count it, warn now and then, and refuse only under ``deny``."""
        if self.store_failed is not None:
            self.store_failed()
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            log.warning("%s; requests are %s meanwhile (limits.on_store_error: %s)", exc,
                        "refused" if self.on_store_error == "deny" else "admitted unchecked", self.on_store_error)
        if self.on_store_error == "deny":
            raise ProxyError(503, "rate limits cannot be checked right now (shared state unavailable); "
                                  "retry shortly", headers={"retry-after": "1"})

    @staticmethod
    def _refuse(wait: float, what: str) -> ProxyError:
        seconds = max(1, math.ceil(wait))
        return ProxyError(429, f"rate limit of {what} per minute exceeded for this key; "
                               f"retry in {seconds}s", headers={"retry-after": str(seconds)})

    def admit(self, key: str, input_tokens: int = 0) -> None:
        """Take one request (and its estimated tokens) from ``key``'s allowance, or raise 429.

        Nothing is taken when the request is refused, so a client that backs off
        as told by ``retry-after`` gets in. Blocks on a shared store: see ``acquire``.
        """
        costs = self._costs(input_tokens)
        if not costs:
            return
        now = self._clock()
        refused: list[tuple[float, str]] = []

        def decide(buckets: dict[str, Bucket | None]) -> dict[str, Bucket]:
            levels = {limit.what: limit.refilled(buckets[f"{limit.what}|{key}"], now) for limit, _ in costs}
            for limit, cost in costs:
                wait = limit.wait(levels[limit.what], cost)
                if wait > 0:
                    refused.append((wait, limit.what))
            if refused:
                return {}
            return {f"{limit.what}|{key}": Bucket(levels[limit.what] - cost, now) for limit, cost in costs}

        try:
            self.store.transaction([f"{limit.what}|{key}" for limit, _ in costs], now, decide)
        except StoreUnavailable as exc:
            self.store_unavailable(exc)
            return
        if refused:
            raise self._refuse(*max(refused))

    async def acquire(self, key: str, input_tokens: int = 0) -> None:
        """``admit`` without blocking the event loop (a shared file works in a thread, Redis async)."""
        if self.remote is not None:
            costs = self._costs(input_tokens)
            if not costs:
                return
            try:
                refused = await self.remote.take(key, [(limit.what, limit.per_minute, cost) for limit, cost in costs])
            except StoreUnavailable as exc:
                self.store_unavailable(exc)
                return
            if refused is not None:
                raise self._refuse(*refused)
        elif self.store.blocking:
            await asyncio.to_thread(self.admit, key, input_tokens)
        else:
            self.admit(key, input_tokens)
