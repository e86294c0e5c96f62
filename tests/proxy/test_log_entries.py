"""What the proxy hands to the request log for each exchange (the SQLite writer is tested on its own)."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.support.fake_anthropic import Reply, closed_port, split_events
from tests.support.recording_log import RecordingLog

STREAM_BODY = b'{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[]}'


async def test_a_streamed_exchange_is_one_complete_entry(start_proxy, make_settings, fake_upstream, fixtures_dir):
    log = RecordingLog()
    settings = make_settings(upstream={"base_url": fake_upstream.url, "api_key": "sk-ant-secret-1234"})
    server = await start_proxy(settings, log)
    assert log.started
    async with aiohttp.ClientSession() as client:
        async with client.post(server.url + "/v1/messages?beta=true", data=STREAM_BODY) as resp:
            body = await resp.read()
            proxy_id = resp.headers["x-claude-proxy-id"]
    (entry,) = await log.wait_for(1)
    assert entry.id == proxy_id
    assert (entry.method, entry.path, entry.status, entry.stream) == ("POST", "/v1/messages?beta=true", 200, True)
    assert entry.request_body == STREAM_BODY
    assert entry.response_body == body == (fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes()
    assert entry.request_headers["x-api-key"] == "sk-ant-secret-1234"  # the writer masks it
    assert entry.response_headers["request-id"] == "req_fake0123456789"
    assert 0 <= entry.ttfb_ms <= entry.duration_ms
    assert entry.error is None


async def test_response_copy_is_capped_one_byte_past_the_limit(start_proxy, make_settings, fake_upstream):
    log = RecordingLog()
    server = await start_proxy(make_settings(log={"enabled": False, "max_body_bytes": 100}), log)
    async with aiohttp.ClientSession() as client:
        async with client.post(server.url + "/v1/messages", data=STREAM_BODY) as resp:
            full = await resp.read()
    (entry,) = await log.wait_for(1)
    assert len(full) > 200
    assert entry.response_body == full[:101]
    assert entry.response_size == len(full)
    assert entry.response_tail and full.endswith(entry.response_tail)


async def test_mid_stream_death_keeps_what_was_received(start_proxy, make_settings, fake_upstream, fixtures_dir):
    events = split_events((fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes())
    fake_upstream.enqueue(Reply.sse(events[:3], then="die"))
    log = RecordingLog()
    server = await start_proxy(make_settings(), log)
    async with aiohttp.ClientSession() as client:
        async with client.post(server.url + "/v1/messages", data=STREAM_BODY) as resp:
            await resp.read()
    (entry,) = await log.wait_for(1)
    assert entry.response_body == b"".join(events[:3])
    assert "middle of the response" in entry.error


async def test_proxy_errors_and_rewrites_are_recorded(start_proxy, make_settings, fake_upstream):
    log = RecordingLog()
    server = await start_proxy(make_settings(upstream={"base_url": f"http://127.0.0.1:{closed_port()}"},
                                             rewrite={"model_aliases": {"big": "claude-opus-4-1"}}), log)
    async with aiohttp.ClientSession() as client:
        async with client.post(server.url + "/v1/messages", data=b'{"model":"big","messages":[]}') as resp:
            assert resp.status == 502
    (entry,) = await log.wait_for(1)
    assert entry.status == 502 and "cannot reach upstream" in entry.error
    assert (entry.requested_model, entry.upstream_model) == ("big", "claude-opus-4-1")
    assert b'"error"' in entry.response_body


async def test_client_disconnect_is_recorded(start_proxy, make_settings, fake_upstream, fixtures_dir):
    events = split_events((fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes())
    fake_upstream.enqueue(Reply.sse(events[:1], then="hang"))
    log = RecordingLog()
    server = await start_proxy(make_settings(), log)
    async with aiohttp.ClientSession() as client:
        resp = await client.post(server.url + "/v1/messages", data=STREAM_BODY)
        await resp.content.readany()
        resp.close()
    (entry,) = await log.wait_for(1)
    assert entry.error == "client disconnected"
    assert entry.response_body == events[0]


async def test_the_log_is_closed_at_shutdown_after_in_flight_requests(make_settings, fake_upstream):
    from claude_proxy.proxy.server import start_server

    fake_upstream.enqueue(Reply.fixture("anthropic-stream-basic-text.sse", delay=0.05))
    log = RecordingLog()
    server = await start_server(make_settings(), log, "127.0.0.1", 0)
    async with aiohttp.ClientSession() as client:
        async with client.post(server.url + "/v1/messages", data=STREAM_BODY) as resp:
            await resp.content.readany()
            stopping = asyncio.create_task(server.stop())
            await resp.read()
        await stopping
    assert log.closed
    assert len(log.entries) == 1 and log.entries[0].error is None


async def test_a_stream_cut_by_the_shutdown_timeout_says_so(make_settings, fake_upstream, fixtures_dir):
    from claude_proxy.proxy.server import start_server

    events = split_events((fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes())
    fake_upstream.enqueue(Reply.sse(events[:1], then="hang"))
    log = RecordingLog()
    server = await start_server(make_settings(server={"shutdown_timeout": 0.2}), log, "127.0.0.1", 0)
    async with aiohttp.ClientSession() as client:
        async with client.post(server.url + "/v1/messages", data=STREAM_BODY) as resp:
            await resp.content.readany()
            await server.stop()
    (entry,) = log.entries
    assert entry.error == "cancelled: the proxy was shutting down"
    assert log.closed
    await asyncio.wait_for(fake_upstream.client_gone.wait(), 10)


async def test_every_v1_answer_is_one_entry_with_its_status(start_proxy, make_settings, fake_upstream):
    """Each /v1 request gets one entry and one timing, whoever answers it: the forwarder, or a 404."""
    log = RecordingLog()
    server = await start_proxy(make_settings(), log)
    async with aiohttp.ClientSession() as client:
        async with client.get(server.url + "/v1") as resp:
            assert resp.status == 404
        async with client.post(server.url + "/v1/messages", json={"model": "m", "messages": []}) as resp:
            assert resp.status == 200
            proxy_id = resp.headers["x-claude-proxy-id"]
    bare, forwarded = await log.wait_for(2)
    assert (bare.path, bare.status) == ("/v1", 404)
    assert (forwarded.id, forwarded.status) == (proxy_id, 200)
    for entry in (bare, forwarded):
        assert entry.duration_ms is not None and entry.duration_ms >= 0
    assert forwarded.ttfb_ms is not None and forwarded.ttfb_ms <= forwarded.duration_ms
