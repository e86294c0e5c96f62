"""/health and CORS: what a monitor and a browser client see."""

from __future__ import annotations

import asyncio

import aiohttp

from claude_proxy import __version__
from tests.support.fake_anthropic import Reply


async def test_health_reports_without_calling_upstream(proxy, fake_upstream):
    async with aiohttp.ClientSession() as client:
        async with client.get(proxy.url + "/health") as resp:
            data = await resp.json()
    assert resp.status == 200
    assert data["status"] == "ok" and data["version"] == __version__
    assert data["upstream"] == fake_upstream.url
    assert data["in_flight"] == 0 and data["uptime_s"] >= 0
    assert data["log"] == {"enabled": False}
    assert fake_upstream.received == []


async def test_health_counts_requests_in_flight(proxy, fake_upstream):
    fake_upstream.enqueue(Reply.hang())
    async with aiohttp.ClientSession() as client:
        pending = asyncio.create_task(client.post(proxy.url + "/v1/messages", data=b"{}"))
        while not fake_upstream.received:
            await asyncio.sleep(0.01)
        async with client.get(proxy.url + "/health") as resp:
            assert (await resp.json())["in_flight"] == 1
        pending.cancel()


async def test_cors_is_off_by_default(proxy):
    async with aiohttp.ClientSession() as client:
        async with client.get(proxy.url + "/v1/models", headers={"Origin": "http://app.example"}) as resp:
            assert "access-control-allow-origin" not in resp.headers


async def test_cors_preflight_and_streamed_responses(start_proxy, make_settings, fake_upstream):
    server = await start_proxy(make_settings(server={"cors_origins": ["http://app.example"]}))
    preflight = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "x-api-key, anthropic-version, content-type"}
    async with aiohttp.ClientSession() as client:
        async with client.options(server.url + "/v1/messages", headers=preflight) as resp:
            assert resp.status == 204
            assert resp.headers["access-control-allow-origin"] == "http://app.example"
            assert "POST" in resp.headers["access-control-allow-methods"]
            assert resp.headers["access-control-allow-headers"] == preflight["Access-Control-Request-Headers"]
        evil_preflight = {**preflight, "Origin": "http://evil.example"}
        async with client.options(server.url + "/v1/messages", headers=evil_preflight) as resp:
            assert resp.status == 403
        body = b'{"stream": true}'
        async with client.post(server.url + "/v1/messages", data=body,
                               headers={"Origin": "http://app.example"}) as resp:
            assert resp.headers["access-control-allow-origin"] == "http://app.example"
            assert resp.headers["content-type"].startswith("text/event-stream")
            await resp.read()
        async with client.get(server.url + "/v1/models", headers={"Origin": "http://evil.example"}) as resp:
            assert "access-control-allow-origin" not in resp.headers
    assert [r.method for r in fake_upstream.received] == ["POST", "GET"]


async def test_claude_codes_preconnect_probe_is_answered_locally(proxy, fake_upstream):
    async with aiohttp.ClientSession() as client:
        async with client.head(proxy.url + "/api/hello") as resp:
            assert resp.status == 200
        async with client.get(proxy.url + "/api/hello") as resp:
            assert await resp.json() == {"status": "ok"}
    assert fake_upstream.received == []
