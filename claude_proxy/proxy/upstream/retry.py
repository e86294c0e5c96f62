"""Retrying upstream sends that failed before the client saw a byte.

The policy follows the official Anthropic SDKs: connection errors, timeouts and the
statuses 408, 429, 500, 502, 503, 504 and 529 are retried with exponential backoff
(0.5 s doubling, capped at 8 s, with jitter), ``retry-after-ms`` / ``retry-after``
are honoured, and an upstream ``x-should-retry`` header overrides the status rule.
A ``retry-after`` longer than ``retry_after_max`` is not waited out: the client gets
the upstream's answer at once, ``retry-after`` intact, and decides for itself.

Only the part up to the response headers is retried; once the proxy has sent the
client anything, a failure becomes an error event instead.

One layer of retries: a client that retries by itself says so (the official SDKs and
Claude Code send ``x-stainless-retry-count``). For such a request the policy
(`RetryPolicy.for_request`) retries no status answer and no failure the upstream may
have seen, only a connection that never opened; the client's own retries do the rest,
so one overloaded answer does not become nine or twenty-seven upstream requests.
``upstream.retry_when_client_retries: true`` restores the proxy's retries for them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import logging
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Generic, Mapping, TypeVar

if TYPE_CHECKING:
    from claude_proxy.settings import UpstreamSettings

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
# Sent by a client that retries by itself (the Stainless-built official SDKs, Claude Code).
CLIENT_RETRIES_HEADER = "x-stainless-retry-count"

T = TypeVar("T")


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds the upstream asked us to wait, from ``retry-after-ms`` or ``retry-after``.

    ``retry-after`` may be seconds (floats tolerated, as the SDKs do) or an HTTP date.
    Returns None when absent or unparseable, so the backoff applies instead.
    """
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    now = time.time() if now is None else now
    return max(float(email.utils.mktime_tz(parsed)) - now, 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to wait; built from ``upstream:`` settings."""

    retries: int = 2
    backoff: float = 0.5
    backoff_max: float = 8.0
    retry_after_max: float = 60.0
    # False: only failures the upstream cannot have seen are retried (see for_request)
    retry_seen: bool = True
    defer_to_retrying_clients: bool = True

    @classmethod
    def from_settings(cls, upstream: UpstreamSettings) -> RetryPolicy:
        return cls(
            retries=upstream.retries,
            backoff=upstream.retry_backoff,
            backoff_max=upstream.retry_backoff_max,
            retry_after_max=upstream.retry_after_max,
            defer_to_retrying_clients=not upstream.retry_when_client_retries,
        )

    def for_request(self, headers: Mapping[str, str]) -> RetryPolicy:
        """The policy for one request: narrowed to unseen failures when the client retries itself."""
        if self.defer_to_retrying_clients and self.retry_seen and CLIENT_RETRIES_HEADER in headers:
            return dataclasses.replace(self, retry_seen=False)
        return self

    def retryable_status(self, status: int, headers: Mapping[str, str] | None = None) -> bool:
        """True when this answer is worth another try (``x-should-retry`` wins)."""
        hint = (headers or {}).get("x-should-retry")
        if hint == "true":
            return True
        if hint == "false":
            return False
        return status in RETRYABLE_STATUSES

    def backoff_delay(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        """Exponential backoff for the n-th retry (1-based), with up to 25% jitter off the top."""
        base = min(self.backoff * (2 ** min(retry_number - 1, 30)), self.backoff_max)
        return base * (1.0 - 0.25 * rand())

    def delay(self, retry_number: int, headers: Mapping[str, str] | None = None,
              rand: Callable[[], float] = random.random) -> float | None:
        """Seconds to wait before the n-th retry, or None when waiting is not worth it.

        A ``retry-after`` within ``retry_after_max`` is honoured as given; a longer one
        means the upstream will not recover soon, so we give up rather than hang.
        """
        asked = parse_retry_after(headers)
        if asked is not None:
            return asked if asked <= self.retry_after_max else None
        return self.backoff_delay(retry_number, rand)


@dataclass
class Attempt:
    """One try at the upstream, kept for the log row and the metrics."""

    number: int
    target: str | None = None
    status: int | None = None
    error: str | None = None
    wait_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.number}
        if self.target is not None:
            out["target"] = self.target
        if self.status is not None:
            out["status"] = self.status
        if self.error is not None:
            out["error"] = self.error
        if self.wait_s:
            out["wait_ms"] = round(self.wait_s * 1000)
        return out


@dataclass
class Outcome(Generic[T]):
    """What the retry loop ended with: a response to pass on, or the last exception."""

    response: T | None
    error: BaseException | None
    attempts: list[Attempt] = field(default_factory=list)
    retryable: bool = False  # still failing in a way a fallback target might fix


def describe_error(exc: BaseException) -> str:
    """A short, key-free description of a transport failure."""
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}" if text != exc.__class__.__name__ else text


async def send_with_retries(
    send: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    status_of: Callable[[T], tuple[int, Mapping[str, str]]],
    discard: Callable[[T], Awaitable[None]],
    retry_on: tuple[type[BaseException], ...],
    unseen: Callable[[BaseException], bool] = lambda exc: False,
    transient: Callable[[BaseException], bool] = lambda exc: True,
    target: str | None = None,
    first_number: int = 1,
    on_retry: Callable[[Attempt], None] | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> Outcome[T]:
    """Call ``send`` until it gives a non-retryable answer or the retries run out.

    ``send`` must stop at the response headers (nothing is streamed to the client
    yet). A retryable response is passed to ``discard`` before the next try. The
    last answer (response or exception) is returned, never raised, so the caller
    can move to a fallback target or render the error its own way. ``transient`` says
    which caught failures are worth another try at all; ``unseen`` says
    which failures the upstream cannot have seen: the only ones retried under a
    policy with ``retry_seen`` off (the answer still counts as retryable for fallbacks).
    """
    attempts: list[Attempt] = []
    number = first_number
    for retry in range(policy.retries + 1):
        attempt = Attempt(number=number, target=target)
        attempts.append(attempt)
        number += 1
        try:
            response = await send()
        except retry_on as exc:
            attempt.error = describe_error(exc)
            headers: Mapping[str, str] | None = None
            result: Outcome[T] = Outcome(None, exc, attempts, retryable=True)
        else:
            status, headers = status_of(response)
            attempt.status = status
            if not policy.retryable_status(status, headers):
                return Outcome(response, None, attempts)
            result = Outcome(response, None, attempts, retryable=True)
        error = result.error
        again = (error is None or transient(error)) and (policy.retry_seen or (error is not None and unseen(error)))
        wait = policy.delay(retry + 1, headers) if again and retry < policy.retries else None
        if wait is None:
            return result
        if result.response is not None:
            await discard(result.response)
        attempt.wait_s = wait
        if on_retry is not None:
            on_retry(attempt)
        log.info("upstream attempt %d%s failed (%s); retrying in %.2fs", attempt.number,
                 f" to {target}" if target else "", attempt.error or attempt.status, wait)
        await sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
