"""The protective middleware on a real aiohttp app, in front of a stand-in /v1 handler."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from claude_proxy.proxy.exchange import EXCHANGE, Activity
from claude_proxy.proxy.protection.metrics import ProxyMetrics
from claude_proxy.proxy.protection.middleware import Protection
from claude_proxy.settings import parse_settings

UPSTREAM_KEY = "sk-ant-upstream-key-0000"
TEAM_KEY = "team-shared-key-1234"
MESSAGE = {"type": "message", "usage": {"input_tokens": 11, "output_tokens": 7}}


class Log:
    queue_depth = 4
    healthy = True


def _settings(**sections):
    data = {"upstream": {"api_key": UPSTREAM_KEY, "base_url": "http://127.0.0.1:9"}}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return parse_settings(data)


async def _client(aiohttp_client, settings, gate_event: asyncio.Event | None = None, request_log=None,
                  **session_options):
    seen = []

    async def handler(request: web.Request) -> web.StreamResponse:
        exchange = request[EXCHANGE]
        seen.append({"headers": dict(request.headers), "body": exchange.body, "client": exchange.client,
                     "read": await request.read()})
        if gate_event is not None:
            await gate_event.wait()
        return web.json_response(MESSAGE)

    async def health(request):
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=settings.server.max_body_size)
    app.router.add_get("/health", health)
    Protection(settings, request_log, ProxyMetrics(), Activity(), env={}).install(app)
    app.router.add_route("*", "/v1/{tail:.*}", handler)
    return await aiohttp_client(app, **session_options), seen


async def test_access_key_required_and_stripped_before_forwarding(aiohttp_client):
    client, seen = await _client(aiohttp_client, _settings(server={"auth_keys": [TEAM_KEY]}))
    wrong = await client.post("/v1/messages", json={"model": "m"}, headers={"x-api-key": "nope-nope-9999"})
    assert wrong.status == 401
    assert (await wrong.json())["error"]["type"] == "authentication_error"
    missing = await client.post("/v1/messages", json={"model": "m"})
    assert missing.status == 401 and seen == []
    ok = await client.post("/v1/messages", json={"model": "m"}, headers={"authorization": f"Bearer {TEAM_KEY}"})
    assert ok.status == 200
    headers = {k.lower(): v for k, v in seen[0]["headers"].items()}
    assert "x-api-key" not in headers and "authorization" not in headers  # forward adds the proxy's own
    assert seen[0]["client"] == "key-1:****1234"
    assert seen[0]["body"] == seen[0]["read"] == b'{"model": "m"}'
    assert (await client.get("/health")).status == 200  # health stays open


async def test_metrics_need_a_key_when_keys_are_set(aiohttp_client):
    client, _ = await _client(aiohttp_client, _settings(server={"auth_keys": [TEAM_KEY]}))
    assert (await client.get("/metrics")).status == 401
    resp = await client.get("/metrics", headers={"authorization": f"Bearer {TEAM_KEY}"})
    assert resp.status == 200 and "claude_proxy_requests_in_flight" in await resp.text()


async def test_metrics_count_requests_statuses_and_tokens(aiohttp_client):
    client, _ = await _client(aiohttp_client, _settings())
    for _ in range(3):
        assert (await client.post("/v1/messages", json={"model": "claude-haiku-4-5"})).status == 200
    text = await (await client.get("/metrics")).text()
    assert ('claude_proxy_requests_total{endpoint="/v1/messages",model="claude-haiku-4-5",'
            'route="default",status="200"} 3.0') in text
    assert 'claude_proxy_tokens_total{kind="input",model="claude-haiku-4-5"} 33.0' in text
    assert 'claude_proxy_time_to_first_byte_seconds_count{endpoint="/v1/messages",route="default"} 3.0' in text
    assert "claude_proxy_requests_in_flight 0.0" in text


async def test_rate_limit_per_key_is_429_with_retry_after(aiohttp_client):
    client, seen = await _client(aiohttp_client, _settings(limits={"requests_per_minute": 2}))
    statuses = [(await client.post("/v1/messages", json={}, headers={"x-api-key": "client-a"})).status
                for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = await client.post("/v1/messages", json={}, headers={"x-api-key": "client-a"})
    assert refused.headers["retry-after"] == "30"
    assert (await refused.json())["error"]["type"] == "rate_limit_error"
    assert (await client.post("/v1/messages", json={}, headers={"x-api-key": "client-b"})).status == 200
    assert len(seen) == 3


async def test_input_tokens_per_minute(aiohttp_client):
    client, _ = await _client(aiohttp_client, _settings(limits={"input_tokens_per_minute": 1000}))
    big = {"model": "m", "messages": [{"role": "user", "content": "x" * 3000}]}
    assert (await client.post("/v1/messages", json=big)).status == 200
    second = await client.post("/v1/messages", json=big)
    assert second.status == 429 and "input tokens" in (await second.json())["error"]["message"]


async def test_over_the_cap_and_queue_is_529_not_a_hang(aiohttp_client):
    release = asyncio.Event()
    client, seen = await _client(aiohttp_client, _settings(limits={"max_concurrent": 2, "queue_size": 1}),
                                 gate_event=release)
    first = [asyncio.create_task(client.post("/v1/messages", json={})) for _ in range(3)]
    while len(seen) < 2:
        await asyncio.sleep(0.01)
    extra = await client.post("/v1/messages", json={})
    assert extra.status == 529
    assert (await extra.json())["error"]["type"] == "overloaded_error"
    ready = await (await client.get("/health/ready")).json()
    assert ready["requests"] == {"in_flight": 3, "queued": 1}
    release.set()
    assert [r.status for r in await asyncio.gather(*first)] == [200, 200, 200]


async def test_defaults_hold_hundreds_of_streams_open_at_once(aiohttp_client):
    """Claude Code fans out; the default cap must not turn a few hundred open streams into 529s."""
    import aiohttp

    release = asyncio.Event()
    client, seen = await _client(aiohttp_client, _settings(), gate_event=release,
                                 connector=aiohttp.TCPConnector(limit=0))
    held = [asyncio.create_task(client.post("/v1/messages", json={})) for _ in range(300)]

    async def all_arrived() -> None:
        while len(seen) < 300:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(all_arrived(), 30)
    ready = await (await client.get("/health/ready")).json()
    assert ready["requests"] == {"in_flight": 300, "queued": 0}
    release.set()
    assert [r.status for r in await asyncio.gather(*held)] == [200] * 300


async def test_body_over_the_limit_is_413_and_slow_body_408(aiohttp_client):
    client, seen = await _client(aiohttp_client, _settings(server={"max_body_size": 1000},
                                                           limits={"body_timeout": 0.3}))
    big = await client.post("/v1/messages", data=b"x" * 2000)
    assert big.status == 413 and (await big.json())["error"]["type"] == "request_too_large"

    async def trickle():
        yield b'{"model":'
        await asyncio.sleep(3)
        yield b'"m"}'

    slow = await client.post("/v1/messages", data=trickle())
    assert slow.status == 408 and (await slow.json())["error"]["type"] == "timeout_error"
    assert seen == []


async def test_ready_reports_the_log_and_an_unreachable_upstream(aiohttp_client):
    client, _ = await _client(aiohttp_client, _settings(), request_log=Log())
    resp = await client.get("/health/ready")
    body = await resp.json()
    assert resp.status == 503 and body["status"] == "not_ready"
    assert body["log"] == {"healthy": True, "required": False, "queue_depth": 4}
    assert "unreachable" in json.dumps(body["problems"])
    text = await (await client.get("/metrics")).text()
    assert "claude_proxy_log_queue_depth 4.0" in text


@pytest.mark.parametrize("key", ["", "  "])
async def test_blank_configured_keys_do_not_open_anything(aiohttp_client, key):
    client, _ = await _client(aiohttp_client, _settings(server={"auth_keys": [key, TEAM_KEY]}))
    assert (await client.post("/v1/messages", json={}, headers={"x-api-key": key})).status == 401
