"""Per-key rate limits: requests per minute and input tokens per minute.

Token buckets, like Anthropic's own limits: each key's bucket holds a minute's
allowance and refills continuously. A request is admitted when the bucket holds
its cost (or is full, so one request larger than the whole allowance can still
pass once); the cost may push the bucket into debt, which later requests wait out.
The state lives in this process: with several workers each keeps its own.

Input tokens are estimated cheaply from the body bytes (about four bytes a token),
with base64 images counted at a flat rate instead of by their size.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Callable

from claude_proxy.proxy.errors import ProxyError

BYTES_PER_TOKEN = 4
TOKENS_PER_IMAGE = 1600
_BASE64_RUN = re.compile(rb'"data"\s*:\s*"[A-Za-z0-9+/=\\]{1024,}"')
MAX_BUCKETS = 10_000


def estimate_input_tokens(body: bytes) -> int:
    """A cheap, slightly generous guess at a request's input tokens (no JSON parsing)."""
    size = len(body)
    images = 0
    if size > 4096:
        for match in _BASE64_RUN.finditer(body):
            size -= match.end() - match.start()
            images += 1
    return math.ceil(size / BYTES_PER_TOKEN) + images * TOKENS_PER_IMAGE


@dataclass
class _Bucket:
    level: float
    stamp: float


class TokenBucket:
    """Buckets of one kind (requests, or tokens) for every key, refilling per minute."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _refill(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
        else:
            bucket.level = min(self.capacity, bucket.level + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        return bucket

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely: they carry no state worth keeping."""
        for key in [k for k, b in self._buckets.items()
                    if b.level + (now - b.stamp) * self.rate >= self.capacity]:
            del self._buckets[key]

    def wait_for(self, key: str, cost: float) -> float:
        """Seconds until ``cost`` would be admitted (0 when it would be now)."""
        bucket = self._refill(key)
        need = min(cost, self.capacity)
        if bucket.level >= need:
            return 0.0
        return (need - bucket.level) / self.rate

    def take(self, key: str, cost: float) -> None:
        self._refill(key).level -= cost


class RateLimiter:
    """Requests-per-minute and input-tokens-per-minute limits for each access key."""

    def __init__(self, requests_per_minute: int = 0, input_tokens_per_minute: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.requests = TokenBucket(requests_per_minute, clock) if requests_per_minute else None
        self.tokens = TokenBucket(input_tokens_per_minute, clock) if input_tokens_per_minute else None

    @classmethod
    def from_settings(cls, limits: object) -> "RateLimiter":
        return cls(getattr(limits, "requests_per_minute", 0), getattr(limits, "input_tokens_per_minute", 0))

    @property
    def enabled(self) -> bool:
        return self.requests is not None or self.tokens is not None

    @property
    def counts_tokens(self) -> bool:
        return self.tokens is not None

    def admit(self, key: str, input_tokens: int = 0) -> None:
        """Take one request (and its estimated tokens) from ``key``'s allowance, or raise 429.

        Nothing is taken when the request is refused, so a client that backs off
        as told by ``retry-after`` gets in.
        """
        waits = []
        if self.requests is not None:
            waits.append(("requests", self.requests.wait_for(key, 1)))
        if self.tokens is not None and input_tokens:
            waits.append(("input tokens", self.tokens.wait_for(key, input_tokens)))
        blocked = [(what, wait) for what, wait in waits if wait > 0]
        if blocked:
            what, wait = max(blocked, key=lambda item: item[1])
            seconds = max(1, math.ceil(wait))
            raise ProxyError(429, f"rate limit of {what} per minute exceeded for this key; "
                                  f"retry in {seconds}s", headers={"retry-after": str(seconds)})
        if self.requests is not None:
            self.requests.take(key, 1)
        if self.tokens is not None and input_tokens:
            self.tokens.take(key, input_tokens)
