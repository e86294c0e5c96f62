"""Per-key rate limits: requests and input tokens per minute, refused with 429 and retry-after."""

from __future__ import annotations

import json

import pytest

from claude_proxy.proxy.errors import ProxyError
from claude_proxy.proxy.protection.ratelimit import RateLimiter, estimate_input_tokens


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_requests_per_minute_then_429_with_retry_after():
    clock = Clock()
    limiter = RateLimiter(requests_per_minute=3, clock=clock)
    for _ in range(3):
        limiter.admit("alice")
    with pytest.raises(ProxyError) as caught:
        limiter.admit("alice")
    err = caught.value
    assert err.status == 429 and err.error_type == "rate_limit_error"
    assert err.headers["retry-after"] == "20"  # one request refills every 20 s
    limiter.admit("bob")  # other keys are not affected
    clock.now += 20
    limiter.admit("alice")


def test_a_refused_request_takes_nothing():
    clock = Clock()
    limiter = RateLimiter(requests_per_minute=1, clock=clock)
    limiter.admit("k")
    for _ in range(5):
        with pytest.raises(ProxyError):
            limiter.admit("k")
    clock.now += 60
    limiter.admit("k")


def test_input_tokens_per_minute():
    clock = Clock()
    limiter = RateLimiter(input_tokens_per_minute=6000, clock=clock)
    limiter.admit("k", 4000)
    with pytest.raises(ProxyError) as caught:
        limiter.admit("k", 4000)
    assert "input tokens" in caught.value.message
    assert caught.value.headers["retry-after"] == "20"  # 2000 tokens short at 100 tokens/s
    clock.now += 20
    limiter.admit("k", 4000)


def test_one_request_bigger_than_the_allowance_passes_when_the_bucket_is_full():
    clock = Clock()
    limiter = RateLimiter(input_tokens_per_minute=1000, clock=clock)
    limiter.admit("k", 5000)
    with pytest.raises(ProxyError) as caught:
        limiter.admit("k", 10)
    assert int(caught.value.headers["retry-after"]) > 60  # the debt is paid back first


def test_disabled_by_default():
    limiter = RateLimiter()
    assert not limiter.enabled
    for _ in range(1000):
        limiter.admit("k", 10**9)


def test_token_estimate_counts_text_and_flattens_images():
    text = json.dumps({"model": "m", "messages": [{"role": "user", "content": "word " * 4000}]}).encode()
    assert 4800 <= estimate_input_tokens(text) <= 5200
    image = json.dumps({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 2_000_000}},
        {"type": "text", "text": "what is this?"}]}]}).encode()
    assert 1600 <= estimate_input_tokens(image) < 1800


def test_a_shared_store_is_one_budget_for_every_process(tmp_path):
    from claude_proxy.proxy.protection.buckets import SqliteStore

    clock = Clock()
    path = tmp_path / "limits.db"
    worker_a = RateLimiter(requests_per_minute=3, clock=clock, store=SqliteStore(path))
    worker_b = RateLimiter(requests_per_minute=3, clock=clock, store=SqliteStore(path))
    worker_a.admit("k")
    worker_b.admit("k")
    worker_a.admit("k")
    with pytest.raises(ProxyError) as caught:
        worker_b.admit("k")
    assert caught.value.status == 429
    clock.now += 20
    worker_b.admit("k")


@pytest.mark.parametrize("policy", ["allow", "deny"])
def test_an_unusable_shared_file_follows_on_store_error(tmp_path, policy):
    from claude_proxy.settings import parse_settings

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    limits = parse_settings({"limits": {"requests_per_minute": 1, "on_store_error": policy,
                                        "shared_state": str(blocker / "limits.db")}}).limits
    failures: list[int] = []
    limiter = RateLimiter.from_settings(limits, store_failed=lambda: failures.append(1))
    assert limiter.store.blocking
    if policy == "deny":  # a limit that cannot be checked is not waived
        with pytest.raises(ProxyError) as caught:
            limiter.admit("k")
        assert caught.value.status == 503
    else:  # served unchecked, and counted
        limiter.admit("k")
        limiter.admit("k")
        assert len(failures) == 2


async def test_acquire_runs_a_shared_store_off_the_loop(tmp_path):
    from claude_proxy.proxy.protection.buckets import SqliteStore

    limiter = RateLimiter(requests_per_minute=1, store=SqliteStore(tmp_path / "l.db"))
    await limiter.acquire("k")
    with pytest.raises(ProxyError):
        await limiter.acquire("k")
