"""Per-key rate limits: requests per minute and input tokens per minute.

Token buckets, like Anthropic's own limits: each key's bucket holds a minute's
allowance and refills continuously. A request is admitted when the bucket holds
its cost (or is full, so one request larger than the whole allowance can still
pass once); the cost may push the bucket into debt, which later requests wait out.
The state lives in this process (with several workers each keeps its own) unless
``limits.shared_state`` names a SQLite file that every process on the host shares.

Input tokens are estimated cheaply from the body bytes (about four bytes a token),
with base64 images counted at a flat rate instead of by their size.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from claude_proxy.proxy.errors import ProxyError
from claude_proxy.proxy.protection.buckets import Bucket, BucketStore, MemoryStore, SqliteStore

if TYPE_CHECKING:
    from claude_proxy.settings import LimitsSettings

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
                 clock: Callable[[], float] = time.monotonic, store: BucketStore | None = None) -> None:
        self.requests = Limit("requests", requests_per_minute) if requests_per_minute else None
        self.tokens = Limit("input tokens", input_tokens_per_minute) if input_tokens_per_minute else None
        self.store: BucketStore = store if store is not None else MemoryStore()
        self._clock = clock

    @classmethod
    def from_settings(cls, limits: LimitsSettings) -> RateLimiter:
        """Per process, or shared through a SQLite file when ``limits.shared_state`` is set."""
        path = limits.shared_state
        if path:
            return cls(limits.requests_per_minute, limits.input_tokens_per_minute,
                       clock=time.time, store=SqliteStore(Path(path).expanduser()))
        return cls(limits.requests_per_minute, limits.input_tokens_per_minute)

    @property
    def enabled(self) -> bool:
        return self.requests is not None or self.tokens is not None

    @property
    def counts_tokens(self) -> bool:
        return self.tokens is not None

    def admit(self, key: str, input_tokens: int = 0) -> None:
        """Take one request (and its estimated tokens) from ``key``'s allowance, or raise 429.

        Nothing is taken when the request is refused, so a client that backs off
        as told by ``retry-after`` gets in. Blocks on a shared store: see ``acquire``.
        """
        costs = [(limit, cost) for limit, cost in ((self.requests, 1), (self.tokens, input_tokens))
                 if limit is not None and cost]
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

        self.store.transaction([f"{limit.what}|{key}" for limit, _ in costs], now, decide)
        if refused:
            wait, what = max(refused)
            seconds = max(1, math.ceil(wait))
            raise ProxyError(429, f"rate limit of {what} per minute exceeded for this key; "
                                  f"retry in {seconds}s", headers={"retry-after": str(seconds)})

    async def acquire(self, key: str, input_tokens: int = 0) -> None:
        """``admit`` without blocking the event loop (a shared store works in a thread)."""
        if self.store.blocking:
            await asyncio.to_thread(self.admit, key, input_tokens)
        else:
            self.admit(key, input_tokens)
