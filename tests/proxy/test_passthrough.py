"""Pass-through: what the client gets is what the upstream sent, byte for byte, and vice versa."""

from __future__ import annotations

import json

import aiohttp
import pytest
from yarl import URL

from tests.support.fake_anthropic import REQUEST_ID, FakeAnthropic, Reply, split_events

STREAM_BODY = b'{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi"}]}'


def _sse_fixtures() -> list[str]:
    from tests.support.fake_anthropic import default_folder

    return sorted(p.name for p in default_folder().glob("*.sse"))


@pytest.mark.parametrize("name", _sse_fixtures())
async def test_every_fixture_stream_arrives_byte_for_byte(name, proxy, fake_upstream: FakeAnthropic, fixtures_dir):
    expected = (fixtures_dir / "anthropic" / name).read_bytes()
    fake_upstream.enqueue(Reply.fixture(name))
    async with aiohttp.ClientSession(auto_decompress=False) as client:
        async with client.post(proxy.url + "/v1/messages", data=STREAM_BODY,
                               headers={"content-type": "application/json"}) as resp:
            chunks = [chunk async for chunk in resp.content.iter_any()]
            assert resp.status == 200
            assert resp.headers["content-type"] == "text/event-stream; charset=utf-8"
            assert resp.headers["request-id"] == REQUEST_ID
    assert b"".join(chunks) == expected
    assert fake_upstream.received[-1].body == STREAM_BODY


async def test_stream_is_relayed_event_by_event_not_buffered(proxy, fake_upstream: FakeAnthropic, fixtures_dir):
    """The client holds the first event while the upstream is still (forever) streaming."""
    events = split_events((fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes())
    fake_upstream.enqueue(Reply.sse(events[:2], then="hang"))
    async with aiohttp.ClientSession() as client:
        async with client.post(proxy.url + "/v1/messages", data=STREAM_BODY) as resp:
            got = b""
            while len(got) < len(events[0] + events[1]):
                got += await resp.content.readany()
    assert got == events[0] + events[1]


@pytest.mark.parametrize("name,path,method", [
    ("anthropic-response-message-text.json", "/v1/messages", "POST"),
    ("anthropic-response-count-tokens.json", "/v1/messages/count_tokens", "POST"),
    ("anthropic-models-list.json", "/v1/models", "GET"),
    ("anthropic-model-get.json", "/v1/models/claude-sonnet-4-20250514", "GET"),
])
async def test_json_responses_are_byte_exact(name, path, method, proxy, fake_upstream, fixtures_dir):
    expected = (fixtures_dir / "anthropic" / name).read_bytes()
    async with aiohttp.ClientSession() as client:
        data = b'{"model":"m"}' if method == "POST" else None
        async with client.request(method, proxy.url + path, data=data) as resp:
            assert resp.status == 200
            assert resp.headers["content-length"] == str(len(expected))
            assert await resp.read() == expected
    assert fake_upstream.received[-1].method == method
    assert fake_upstream.received[-1].path_qs == path


async def test_request_body_bytes_are_untouched_without_rules(proxy, fake_upstream):
    # Odd spacing, key order, unicode escapes and a float: all must survive as-is.
    body = (b'{ "model" : "claude-x",\n "max_tokens": 10, "temperature": 0.70, '
            b'"messages": [{"role":"user","content":"caf\\u00e9 \xe2\x98\x83"}]}')
    async with aiohttp.ClientSession() as client:
        async with client.post(proxy.url + "/v1/messages", data=body,
                               headers={"content-type": "application/json"}) as resp:
            await resp.read()
    assert fake_upstream.received[-1].body == body
    assert fake_upstream.received[-1].headers["content-length"] == str(len(body))


async def test_upstream_errors_pass_through_with_status_body_and_headers(proxy, fake_upstream, fixtures_dir):
    body = (fixtures_dir / "anthropic" / "anthropic-error-overloaded.json").read_bytes()
    fake_upstream.enqueue(Reply.raw(body, status=529, headers={"content-type": "application/json",
                                                                "retry-after": "7", "x-should-retry": "true"}))
    async with aiohttp.ClientSession() as client:
        async with client.post(proxy.url + "/v1/messages", data=b"{}") as resp:
            assert resp.status == 529
            assert resp.headers["retry-after"] == "7"
            assert resp.headers["x-should-retry"] == "true"
            assert await resp.read() == body


async def test_query_string_and_other_paths_are_forwarded(proxy, fake_upstream):
    fake_upstream.enqueue(Reply.json({"ok": 1}), Reply.json({"id": "batch"}), Reply.raw(b"", status=204))
    async with aiohttp.ClientSession() as client:
        async with client.post(proxy.url + "/v1/messages?beta=true", data=b"{}") as resp:
            assert resp.status == 200
        async with client.get(URL(proxy.url + "/v1/messages/batches/msgbatch_01?x=a%20b&y=%2F", encoded=True)) as resp:
            assert await resp.json() == {"id": "batch"}
        async with client.delete(proxy.url + "/v1/files/file_123") as resp:
            assert resp.status == 204
    assert [(r.method, r.path_qs) for r in fake_upstream.received] == [
        ("POST", "/v1/messages?beta=true"),
        ("GET", "/v1/messages/batches/msgbatch_01?x=a%20b&y=%2F"),
        ("DELETE", "/v1/files/file_123"),
    ]


async def test_end_to_end_headers_cross_both_ways_hop_by_hop_do_not(proxy, fake_upstream):
    fake_upstream.enqueue(Reply.json({"ok": True}, headers={
        "anthropic-ratelimit-requests-remaining": "41", "retry-after": "3",
        "x-custom-back": "b", "keep-alive": "timeout=5", "proxy-authenticate": "Basic",
    }))
    sent = {
        "x-api-key": "sk-ant-client-key-1234", "anthropic-version": "2023-06-01",
        "anthropic-beta": "prompt-caching-2024-07-31,tools-2024-04-04",
        "anthropic-dangerous-direct-browser-access": "true",
        "content-type": "application/json", "x-custom": "kept", "user-agent": "my-app/1.0",
        "keep-alive": "timeout=5", "te": "trailers", "proxy-authorization": "Basic abc",
        "connection": "keep-alive, x-conn-only", "x-conn-only": "dropped",
    }
    async with aiohttp.ClientSession(skip_auto_headers=["Accept-Encoding"]) as client:
        async with client.post(proxy.url + "/v1/messages", data=b"{}", headers=sent) as resp:
            back = resp.headers
            await resp.read()
    got = fake_upstream.received[-1].headers
    for name in ("x-api-key", "anthropic-version", "anthropic-beta", "anthropic-dangerous-direct-browser-access",
                 "content-type", "x-custom", "user-agent"):
        assert got[name] == sent[name], name
    for name in ("keep-alive", "te", "proxy-authorization", "x-conn-only", "accept-encoding"):
        assert name not in got, name
    assert got["host"] == f"127.0.0.1:{fake_upstream.port}"
    assert back["anthropic-ratelimit-requests-remaining"] == "41"
    assert back["retry-after"] == "3"
    assert back["x-custom-back"] == "b"
    assert back["request-id"] == REQUEST_ID
    assert "proxy-authenticate" not in back
    assert back.get("keep-alive") is None
    assert len(back["x-claude-proxy-id"]) >= 16


async def test_compressed_bodies_pass_through_still_compressed(proxy, fake_upstream):
    import gzip

    payload = gzip.compress(json.dumps({"type": "message", "content": []}).encode())
    fake_upstream.enqueue(Reply.raw(payload, headers={"content-type": "application/json", "content-encoding": "gzip"}))
    async with aiohttp.ClientSession(auto_decompress=False) as client:
        async with client.post(proxy.url + "/v1/messages", data=b"{}", headers={"accept-encoding": "gzip"}) as resp:
            assert resp.headers["content-encoding"] == "gzip"
            assert await resp.read() == payload
    assert fake_upstream.received[-1].headers["accept-encoding"] == "gzip"


async def test_configured_key_is_added_only_when_the_client_sent_none(start_proxy, make_settings, fake_upstream):
    server = await start_proxy(make_settings(upstream={"api_key": "sk-ant-configured-9876"}))
    async with aiohttp.ClientSession() as client:
        for headers in ({}, {"x-api-key": "sk-client-own"}, {"authorization": "Bearer tok-own"}):
            async with client.post(server.url + "/v1/messages", data=b"{}", headers=headers) as resp:
                await resp.read()
    no_key, own_key, bearer = (r.headers for r in fake_upstream.received)
    assert no_key["x-api-key"] == "sk-ant-configured-9876"
    assert own_key["x-api-key"] == "sk-client-own"
    assert bearer["authorization"] == "Bearer tok-own" and "x-api-key" not in bearer


async def test_key_from_environment_when_settings_have_none(start_proxy, make_settings, fake_upstream, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-5555")
    server = await start_proxy(make_settings())
    async with aiohttp.ClientSession() as client:
        async with client.get(server.url + "/v1/models") as resp:
            await resp.read()
    assert fake_upstream.received[-1].headers["x-api-key"] == "sk-ant-from-env-5555"


async def test_redirects_are_passed_back_not_followed(proxy, fake_upstream):
    fake_upstream.enqueue(Reply.raw(b"", status=307, headers={"location": "http://127.0.0.1:1/elsewhere"}))
    async with aiohttp.ClientSession() as client:
        async with client.get(proxy.url + "/v1/models", allow_redirects=False) as resp:
            assert resp.status == 307
            assert resp.headers["location"] == "http://127.0.0.1:1/elsewhere"
    assert len(fake_upstream.received) == 1


async def test_upstream_base_url_path_prefix_is_kept(start_proxy, make_settings, fake_upstream):
    server = await start_proxy(make_settings(upstream={"base_url": fake_upstream.url + "/gateway/anthropic/"}))
    async with aiohttp.ClientSession() as client:
        async with client.post(server.url + "/v1/messages?beta=true", data=b"{}") as resp:
            await resp.read()
    assert fake_upstream.received[-1].path_qs == "/gateway/anthropic/v1/messages?beta=true"
