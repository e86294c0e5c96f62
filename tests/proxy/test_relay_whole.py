"""Small non-streamed answers are relayed whole: same bytes, and a short body becomes a clean 502."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.support.fake_anthropic import FakeAnthropic


async def test_small_json_answer_arrives_identical_with_its_length(proxy, fake_upstream: FakeAnthropic,
                                                                   fixtures_dir):
    expected = (fixtures_dir / "anthropic" / "anthropic-response-message-text.json").read_bytes()
    async with aiohttp.ClientSession() as client:
        async with client.post(proxy.url + "/v1/messages", data=b"{}") as resp:
            body = await resp.read()
            assert resp.status == 200
            assert resp.headers["Content-Length"] == str(len(expected))
            assert resp.headers["request-id"] == "req_fake0123456789"
            assert resp.headers["x-claude-proxy-id"]
    assert body == expected


async def _short_body_upstream() -> tuple[asyncio.AbstractServer, int]:
    """An upstream that promises 100 bytes of JSON, sends 9 and hangs up."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                     b'{"type":"')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_upstream_dying_inside_a_small_body_is_a_502_not_a_cut(start_proxy, make_settings):
    upstream, port = await _short_body_upstream()
    async with upstream:
        proxy = await start_proxy(make_settings(upstream={"base_url": f"http://127.0.0.1:{port}"}))
        async with aiohttp.ClientSession() as client:
            async with client.post(proxy.url + "/v1/messages", data=b"{}") as resp:
                status, body = resp.status, await resp.read()
    assert status == 502
    error = json.loads(body)["error"]
    assert error["type"] == "api_error"
    assert f"127.0.0.1:{port}" in error["message"] and "middle of the response" in error["message"]
