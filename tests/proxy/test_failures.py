"""Upstream failures and client disconnects: Anthropic-shaped errors, one error frame, prompt cancellation."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest

from tests.support.fake_anthropic import BlackholePort, FakeAnthropic, Reply, closed_port, split_events

pytestmark = pytest.mark.processes

STREAM_BODY = b'{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi"}]}'


async def _post(url: str, body: bytes = b"{}", **kw) -> tuple[int, dict, bytes]:
    async with aiohttp.ClientSession() as client:
        async with client.post(url + "/v1/messages", data=body, **kw) as resp:
            return resp.status, dict(resp.headers), await resp.read()


def _error(body: bytes) -> tuple[str, str]:
    data = json.loads(body)
    assert data["type"] == "error"
    return data["error"]["type"], data["error"]["message"]


async def test_refused_upstream_is_502_naming_host_and_cause(start_proxy, make_settings):
    port = closed_port()
    server = await start_proxy(make_settings(upstream={"base_url": f"http://127.0.0.1:{port}"}))
    status, headers, body = await _post(server.url)
    assert status == 502
    kind, message = _error(body)
    assert kind == "api_error"
    assert f"127.0.0.1:{port}" in message and "refused" in message.lower()
    assert headers["x-claude-proxy-id"]


async def test_silent_upstream_is_504_timeout_error(start_proxy, make_settings, fake_upstream: FakeAnthropic):
    fake_upstream.enqueue(Reply.hang())
    server = await start_proxy(make_settings(upstream={"base_url": fake_upstream.url, "read_timeout": 0.3}))
    status, _, body = await _post(server.url)
    assert status == 504
    kind, message = _error(body)
    assert kind == "timeout_error" and f"127.0.0.1:{fake_upstream.port}" in message


async def test_connect_timeout_is_504_timeout_error(start_proxy, make_settings):
    with BlackholePort() as hole:
        server = await start_proxy(make_settings(upstream={"base_url": f"http://127.0.0.1:{hole.port}",
                                                           "connect_timeout": 0.3}))
        status, _, body = await _post(server.url)
    assert status == 504
    kind, message = _error(body)
    assert kind == "timeout_error" and "did not accept a connection" in message


async def test_upstream_dying_mid_stream_gives_one_error_frame(proxy, fake_upstream, fixtures_dir):
    events = split_events((fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes())
    fake_upstream.enqueue(Reply.sse(events[:4], then="die"))
    status, _, body = await _post(proxy.url, STREAM_BODY)
    assert status == 200
    sent = b"".join(events[:4])
    assert body.startswith(sent)
    rest = body[len(sent):]
    assert rest.count(b"event: error") == 1 and rest.startswith(b"event: error\ndata: ")
    assert rest.endswith(b"\n\n")
    kind, message = _error(rest.split(b"data: ", 1)[1])
    assert kind == "api_error" and "middle of the response" in message


async def test_stream_cut_mid_event_is_terminated_before_the_error_frame(proxy, fake_upstream, fixtures_dir):
    events = split_events((fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes())
    partial = events[3][:30]
    fake_upstream.enqueue(Reply.sse([events[0], partial], then="die"))
    status, _, body = await _post(proxy.url, STREAM_BODY)
    assert body.startswith(events[0] + partial + b"\n\nevent: error\ndata: ")
    frames = [f for f in body.split(b"\n\n") if f]
    assert frames[-1].startswith(b"event: error\ndata: ")
    assert _error(frames[-1].split(b"data: ", 1)[1])[0] == "api_error"


async def test_upstream_silent_mid_stream_gives_error_frame(start_proxy, make_settings, fake_upstream, fixtures_dir):
    events = split_events((fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes())
    fake_upstream.enqueue(Reply.sse(events[:2], then="hang"))
    server = await start_proxy(make_settings(upstream={"base_url": fake_upstream.url, "read_timeout": 0.3}))
    _, _, body = await _post(server.url, STREAM_BODY)
    assert body.startswith(events[0] + events[1] + b"event: error\n")
    assert "timed out" in _error(body.split(b"data: ")[-1])[1]


async def test_json_body_cut_short_is_not_presented_as_complete(proxy, fake_upstream):
    fake_upstream.enqueue(Reply(200, [b'{"type":"message","content":[{"ty'], {"Content-Type": "application/json"},
                                then="die"))
    with pytest.raises(aiohttp.ClientPayloadError):
        await _post(proxy.url)


async def test_client_disconnect_cancels_the_upstream_request(proxy, fake_upstream, fixtures_dir):
    events = split_events((fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes())
    fake_upstream.enqueue(Reply.sse(events[:1], then="hang"))
    async with aiohttp.ClientSession() as client:
        resp = await client.post(proxy.url + "/v1/messages", data=STREAM_BODY)
        assert await resp.content.readany() == events[0]
        resp.close()  # the client goes away mid-stream
    await asyncio.wait_for(fake_upstream.client_gone.wait(), 10)
    assert fake_upstream.cancelled == 1


async def test_client_disconnect_before_headers_cancels_the_upstream_request(proxy, fake_upstream):
    fake_upstream.enqueue(Reply.hang())
    async with aiohttp.ClientSession() as client:
        task = asyncio. create_task(client.post(proxy.url + "/v1/messages", data=STREAM_BODY))
        while not fake_upstream.received:
            await asyncio.sleep(0.01)
        task.cancel()
    await asyncio.wait_for(fake_upstream.client_gone.wait(), 10)


async def test_body_over_the_limit_is_413(start_proxy, make_settings, fake_upstream):
    server = await start_proxy(make_settings(server={"max_body_size": 1000}))
    status, _, body = await _post(server.url, b"x" * 1001)
    assert status == 413 and _error(body)[0] == "request_too_large"
    status, _, _ = await _post(server.url, b"{" + b" " * 990 + b"}")
    assert status == 200
    assert len(fake_upstream.received) == 1


async def test_a_compressed_body_goes_upstream_decoded(proxy, fake_upstream):
    import gzip

    status, _, _ = await _post(proxy.url, gzip.compress(STREAM_BODY), headers={"Content-Encoding": "gzip"})
    assert status == 200
    got = fake_upstream.received[-1]
    assert got.body == STREAM_BODY and "content-encoding" not in got.headers


async def test_a_body_its_content_encoding_does_not_match_is_400_and_closes(proxy, fake_upstream, caplog):
    """The client's mistake: an Anthropic-shaped 400, and no error traceback in the proxy's log."""
    async with aiohttp.ClientSession() as client:
        for encoding in ("gzip", "deflate"):
            async with client.post(proxy.url + "/v1/messages", data=STREAM_BODY,
                                   headers={"Content-Encoding": encoding}) as resp:
                assert resp.status == 400 and resp.headers.get("Connection") == "close"
                kind, message = _error(await resp.read())
                assert kind == "invalid_request_error" and f"content-encoding: {encoding}" in message
        async with client.post(proxy.url + "/v1/messages", data=STREAM_BODY) as resp:
            assert resp.status == 200  # the same client goes on, on a new connection
    assert [r.body for r in fake_upstream.received] == [STREAM_BODY]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_chunked_body_over_the_limit_is_413(start_proxy, make_settings, fake_upstream):
    server = await start_proxy(make_settings(server={"max_body_size": 1000}))

    async def body():
        for _ in range(5):
            yield b"x" * 300

    status, _, data = await _post(server.url, body())
    assert status == 413 and _error(data)[0] == "request_too_large"
    assert fake_upstream.received == []


async def test_a_loop_through_the_proxy_itself_is_508(make_settings, fake_upstream):
    """Two proxies pointing at each other: the request comes back and is refused, not chained forever."""
    from claude_proxy.proxy.server import start_server

    port_a, port_b = closed_port(), closed_port()
    a = await start_server(make_settings(upstream={"base_url": f"http://127.0.0.1:{port_b}"}),
                           None, "127.0.0.1", port_a)
    b = await start_server(make_settings(upstream={"base_url": f"http://127.0.0.1:{port_a}"}),
                           None, "127.0.0.1", port_b)
    try:
        status, _, body = await _post(a.url)
    finally:
        await a.stop()
        await b.stop()
    assert status == 508
    assert "loop" in _error(body)[1]
    assert fake_upstream.received == []


async def test_upstream_pointing_at_our_own_port_refuses_to_start(make_settings):
    from claude_proxy.proxy.server import ServeError, start_server

    port = closed_port()
    settings = make_settings(upstream={"base_url": f"http://localhost:{port}"})
    with pytest.raises(ServeError, match="own address"):
        await start_server(settings, None, host="127.0.0.1", port=port)


async def test_unknown_paths_get_an_anthropic_shaped_404(proxy, fake_upstream):
    async with aiohttp.ClientSession() as client:
        async with client.get(proxy.url + "/nope") as resp:
            assert resp.status == 404
            assert _error(await resp.read())[0] == "not_found_error"
    assert fake_upstream.received == []


async def test_tls_is_verified_an_untrusted_certificate_is_502(start_proxy, make_settings, tmp_path):
    import ssl
    import subprocess

    from aiohttp import web

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"leaked": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        server = await start_proxy(make_settings(upstream={"base_url": f"https://127.0.0.1:{port}"}))
        status, _, body = await _post(server.url)
    finally:
        await runner.cleanup()
    assert status == 502
    kind, message = _error(body)
    assert kind == "api_error" and "certificate" in message.lower() and f"127.0.0.1:{port}" in message
