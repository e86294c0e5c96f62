"""Rate limits shared in Redis: several `serve` instances enforce one per-key limit, and an
outage of Redis follows ``limits.on_store_error`` without hanging a request."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from claude_proxy.proxy.errors import ProxyError
from claude_proxy.proxy.protection.ratelimit import RateLimiter
from claude_proxy.proxy.protection.redisbuckets import RedisBuckets
from tests.support.services import RedisServer

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
HANG_GUARD = 20.0  # a bound on every request, so a hang fails the test instead of stalling it


@pytest.fixture
def redis_server(tmp_path: Path):
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


async def _post(session: aiohttp.ClientSession, url: str, key: str = "sk-ant-team-key-0001") -> tuple[int, Any, Any]:
    async with session.post(url + "/v1/messages", json=BODY, headers={"x-api-key": key,
                                                                      "anthropic-version": "2023-06-01"}) as resp:
        return resp.status, await resp.json(content_type=None), resp.headers


async def test_two_limiters_on_one_redis_share_the_allowance(redis_server: RedisServer) -> None:
    first = RateLimiter(requests_per_minute=3, remote=RedisBuckets(redis_server.url))
    second = RateLimiter(requests_per_minute=3, remote=RedisBuckets(redis_server.url))
    try:
        admitted = 0
        refusals: list[ProxyError] = []
        for limiter in [first, second] * 4:
            try:
                await limiter.acquire("alice")
                admitted += 1
            except ProxyError as exc:
                refusals.append(exc)
        assert admitted == 3
        assert {exc.status for exc in refusals} == {429}
        assert all(1 <= int(exc.headers["retry-after"]) <= 20 for exc in refusals)
        await second.acquire("bob")  # another key has its own allowance
    finally:
        await first.remote.close()  # type: ignore[union-attr]
        await second.remote.close()  # type: ignore[union-attr]


async def test_token_limit_is_shared_and_a_refusal_takes_nothing(redis_server: RedisServer) -> None:
    first = RateLimiter(input_tokens_per_minute=1000, remote=RedisBuckets(redis_server.url))
    second = RateLimiter(input_tokens_per_minute=1000, remote=RedisBuckets(redis_server.url))
    try:
        await first.acquire("k", 600)
        with pytest.raises(ProxyError) as caught:
            await second.acquire("k", 600)
        assert caught.value.status == 429 and "input tokens" in caught.value.message
        await second.acquire("k", 300)  # the refused 600 took nothing: 400 were still there
    finally:
        await first.remote.close()  # type: ignore[union-attr]
        await second.remote.close()  # type: ignore[union-attr]


@pytest.mark.processes
async def test_three_instances_admit_n_requests_in_total_not_3n(serve_process, fake_upstream,
                                                                redis_server: RedisServer) -> None:
    config = {"upstream": {"base_url": fake_upstream.url, "retries": 0}, "log": {"enabled": False},
              "limits": {"requests_per_minute": 5, "shared_state": redis_server.url}}
    instances = [await serve_process(config=config) for _ in range(3)]
    statuses: list[int] = []
    async with aiohttp.ClientSession() as session:
        for i in range(15):
            status, body, headers = await asyncio.wait_for(_post(session, instances[i % 3].url), HANG_GUARD)
            statuses.append(status)
            if status == 429:
                assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
                assert int(headers["retry-after"]) >= 1
        assert statuses.count(200) == 5, statuses
        assert statuses.count(429) == 10
        # another client key is not held back by the first one's use
        status, _, _ = await _post(session, instances[0].url, key="sk-ant-other-key-0002")
        assert status == 200


async def _store_errors(session: aiohttp.ClientSession, url: str) -> float:
    async with session.get(url + "/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith("claude_proxy_limit_store_errors_total "):
            return float(line.split()[1])
    raise AssertionError("no claude_proxy_limit_store_errors_total in /metrics")


@pytest.mark.processes
async def test_redis_down_with_allow_admits_with_a_warning_and_a_metric(serve_process, fake_upstream,
                                                                         redis_server: RedisServer) -> None:
    config = {"upstream": {"base_url": fake_upstream.url, "retries": 0}, "log": {"enabled": False},
              "limits": {"requests_per_minute": 2, "shared_state": redis_server.url}}
    proc = await serve_process(config=config)
    async with aiohttp.ClientSession() as session:
        assert [(await _post(session, proc.url))[0] for _ in range(3)] == [200, 200, 429]
        redis_server.stop()
        outage = [await asyncio.wait_for(_post(session, proc.url), HANG_GUARD) for _ in range(4)]
        assert [status for status, _, _ in outage] == [200] * 4  # unchecked, but served
        assert await _store_errors(session, proc.url) >= 4
        redis_server.start()  # back on the same port: the limit holds again
        statuses = [(await _post(session, proc.url))[0] for _ in range(4)]
        assert statuses.count(429) >= 2, statuses
    await proc.stop()
    assert b"on_store_error: allow" in proc.stderr
    assert proc.stderr.count(b"admitted unchecked") == 1  # warned once, not once per request


@pytest.mark.processes
async def test_redis_down_with_deny_answers_503_at_once(serve_process, fake_upstream,
                                                        redis_server: RedisServer) -> None:
    config = {"upstream": {"base_url": fake_upstream.url, "retries": 0}, "log": {"enabled": False},
              "limits": {"requests_per_minute": 100, "shared_state": redis_server.url, "on_store_error": "deny"}}
    proc = await serve_process(config=config)
    async with aiohttp.ClientSession() as session:
        assert (await _post(session, proc.url))[0] == 200
        redis_server.stop()
        status, body, headers = await asyncio.wait_for(_post(session, proc.url), HANG_GUARD)
        assert status == 503
        assert body["type"] == "error" and body["error"]["type"] == "api_error"
        assert "rate limits cannot be checked" in body["error"]["message"]
        assert headers["retry-after"] == "1"
    assert len(fake_upstream.received) == 1  # the refused one never went upstream


def test_a_redis_password_is_never_shown(tmp_path: Path) -> None:
    from claude_proxy.proxy.protection.buckets import StoreUnavailable

    buckets = RedisBuckets(f"redis://:hunter2hunter2@127.0.0.1:{_closed_port()}/0", timeout=0.2)

    async def attempt() -> str:
        try:
            await buckets.take("k", [("requests", 5, 1)])
        except StoreUnavailable as exc:
            return str(exc)
        finally:
            await buckets.close()
        raise AssertionError("a closed port was reachable")

    message = asyncio.run(attempt())
    assert "hunter2hunter2" not in message and "****" in message


def _closed_port() -> int:
    from tests.support.services import free_port

    return free_port()


@pytest.mark.processes
async def test_a_concurrency_cap_shared_by_three_instances(serve_process, fake_upstream,
                                                           redis_server: RedisServer) -> None:
    from redis import Redis

    from claude_proxy.proxy.protection.redisgate import KEY
    from tests.support.fake_anthropic import Reply

    config = {"upstream": {"base_url": fake_upstream.url, "retries": 0}, "log": {"enabled": False},
              "limits": {"shared_state": redis_server.url, "max_concurrent_total": 2, "queue_timeout": 0.3}}
    instances = [await serve_process(config=config) for _ in range(3)]
    # only two get through to the upstream
    fake_upstream.enqueue(*[Reply.fixture("anthropic-stream-basic-text.sse", delay=0.3) for _ in range(2)])
    async with aiohttp.ClientSession() as session:
        async def one(i: int) -> tuple[int, Any]:
            async with session.post(instances[i % 3].url + "/v1/messages", json={**BODY, "stream": True},
                                    headers={"x-api-key": "sk-ant-k-0003", "anthropic-version": "2023-06-01"}) as resp:
                return resp.status, await resp.read()

        results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(6))), HANG_GUARD)
        statuses = sorted(status for status, _ in results)
        assert statuses == [200, 200, 529, 529, 529, 529]
        refused = json.loads(next(body for status, body in results if status == 529))
        assert refused["error"]["type"] == "overloaded_error" and "across all instances" in refused["error"]["message"]
        # the slots come free once the answers are done: the next request is served
        status, _, _ = await asyncio.wait_for(_post(session, instances[1].url), HANG_GUARD)
        assert status == 200
    client = Redis.from_url(redis_server.url)
    for _ in range(100):
        if client.zcard(KEY) == 0:
            break
        await asyncio.sleep(0.05)
    assert client.zcard(KEY) == 0
    client.close()
