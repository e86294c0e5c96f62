"""The proxy's HTTP/1.1 client (claude_proxy/proxy/upstream/http1/) against a raw upstream on 127.0.0.1.

Keep-alive, body framing, what goes on the wire, and how each way an upstream can fail
surfaces, both from the pool and as the `ProxyError` that `Upstream.send` turns it into.
Flow control (stale connections, cancellation, backpressure, the pool limit, TLS) is in
test_http1_flow.py.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import sys
import time

import pytest

from claude_proxy.proxy.errors import ProxyError
from claude_proxy.proxy.upstream import http1
from claude_proxy.proxy.upstream.client import Upstream, describe_os_error
from tests.support.raw_upstream import fetch, read_chunks, reply, response, silent


async def send_via_upstream(url: str, *, read_timeout: float = 2.0, headers=None) -> ProxyError:
    """What `Upstream.send` raises for a request to ``url``."""
    upstream = Upstream(url, connect_timeout=1.0, read_timeout=read_timeout, pool_size=4)
    await upstream.start()
    try:
        with pytest.raises(ProxyError) as caught:
            await upstream.send("POST", "/v1/messages", headers or {"x-api-key": "k"}, b"{}")
        return caught.value
    finally:
        await upstream.close()


# --- keep-alive ---------------------------------------------------------------------------------

async def test_sequential_requests_share_one_connection(raw_upstream, make_pool):
    server = await raw_upstream()
    pool = make_pool(server.url)
    for body in (b"first", b"second"):
        resp, data = await fetch(pool, "POST", "/v1/messages", body=body)
        assert (resp.status, data) == (200, b"ok")
    assert len(server.conns) == 1
    assert [r.body for r in server.conns[0].requests] == [b"first", b"second"]


@pytest.mark.parametrize("answer", [
    response(headers=["Connection: close"]),
    response(version="1.0"),
], ids=["connection-close", "http-1.0"])
async def test_a_response_that_forbids_reuse_gets_a_new_connection(raw_upstream, make_pool, answer):
    server = await raw_upstream(reply(answer))  # the server itself would keep the socket open
    pool = make_pool(server.url)
    for _ in range(2):
        assert (await fetch(pool))[1] == b"ok"
    assert len(server.conns) == 2
    await asyncio.wait_for(server.conns[0].eof.wait(), 2)  # and the first one was closed


async def test_an_idle_connection_older_than_keepalive_is_closed_not_reused(raw_upstream, make_pool):
    server = await raw_upstream()
    pool = make_pool(server.url, keepalive=0.1)
    await fetch(pool)
    await asyncio.sleep(0.2)
    await fetch(pool)
    assert len(server.conns) == 2
    await asyncio.wait_for(server.conns[0].eof.wait(), 2)


# --- bodies ---------------------------------------------------------------------------------------

async def test_content_length_body(raw_upstream, make_pool):
    body = bytes(range(256)) * 40
    server = await raw_upstream(reply(response(body, headers=["Content-Type: application/octet-stream"])))
    resp = await make_pool(server.url).request("GET", "/", [], b"")
    assert (resp.status, resp.reason, resp.content_length) == (200, "OK", len(body))
    assert resp.headers["content-type"] == "application/octet-stream"
    assert b"".join(await read_chunks(resp)) == body


async def test_chunked_body_is_deframed_and_the_connection_reused(raw_upstream, make_pool):
    pieces = [b"event: ping\n\n", b"data: {\"a\": 1}\r\n\r\n", b"0\r\n" * 5]
    frames = [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces]
    head = response(headers=["Transfer-Encoding: chunked"], length=False)[:-2]  # drop the fake body
    server = await raw_upstream(reply(head, *frames, b"0\r\n\r\n"))
    pool = make_pool(server.url)
    resp = await pool.request("GET", "/", [], b"")
    assert resp.content_length is None
    assert b"".join(await read_chunks(resp)) == b"".join(pieces)
    resp.release()
    assert (await fetch(pool))[1] == b"".join(pieces)
    assert len(server.conns) == 1


async def test_close_delimited_body_ends_at_eof_complete(raw_upstream, make_pool):
    server = await raw_upstream(reply(response(length=False)[:-2], b"part one, ", b"part two", close=True))
    pool = make_pool(server.url)
    resp, data = await fetch(pool)
    assert (resp.status, resp.content_length, data) == (200, None, b"part one, part two")
    assert (await fetch(pool))[1] == b"part one, part two"
    assert len(server.conns) == 2


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
async def test_bodyless_status_completes_at_once_and_keeps_the_connection(raw_upstream, make_pool, status):
    server = await raw_upstream(reply(response(b"", status=status, length=False)))
    pool = make_pool(server.url, read_timeout=1.0)
    started = time.monotonic()
    for _ in range(2):
        assert (await fetch(pool))[1] == b""
    assert time.monotonic() - started < 0.5  # nobody waited for an EOF or a timeout
    assert len(server.conns) == 1


async def test_head_request_completes_without_a_body_and_is_not_reused(raw_upstream, make_pool):
    server = await raw_upstream(reply(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"))
    pool = make_pool(server.url, read_timeout=1.0)
    resp, data = await asyncio.wait_for(fetch(pool, "HEAD"), 0.5)
    assert (resp.status, resp.content_length, data) == (200, 1234, b"")
    await fetch(pool, "HEAD")
    assert len(server.conns) == 2
    assert server.requests[0].line == b"HEAD / HTTP/1.1"


async def test_gzip_body_crosses_untouched(raw_upstream, make_pool):
    body = gzip.compress(b'{"type": "message"}' * 100)
    server = await raw_upstream(reply(response(body, headers=["Content-Encoding: gzip"])))
    resp, data = await fetch(make_pool(server.url))
    assert data == body
    assert resp.headers["Content-Encoding"] == "gzip"


@pytest.mark.parametrize("interim", [
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n",
])
async def test_interim_responses_are_skipped(raw_upstream, make_pool, interim):
    server = await raw_upstream(reply(interim, response(b"real", status="201 Created", headers=["X-Real: 1"])))
    pool = make_pool(server.url)
    resp, data = await fetch(pool, "POST", body=b"{}")
    assert (resp.status, resp.reason, data) == (201, "Created", b"real")
    assert "Link" not in resp.headers and resp.headers["X-Real"] == "1"
    assert (await fetch(pool))[0].status == 201
    assert len(server.conns) == 1


# --- the request on the wire ------------------------------------------------------------------------

async def test_request_carries_exactly_the_given_headers_plus_host_and_length(raw_upstream, make_pool):
    server = await raw_upstream()
    pool = make_pool(server.url)
    given = [("x-api-key", "sk-test"), ("anthropic-version", "2023-06-01"), ("X-Dup", "1"), ("X-Dup", "2")]
    await fetch(pool, "GET", "/v1/models?limit=2", given)
    await fetch(pool, "POST", "/v1/messages", given, b"")
    await fetch(pool, "POST", "/v1/messages", given, b'{"model": "m"}')
    host = f"Host: 127.0.0.1:{server.port}".encode()
    sent = b"\r\n".join(b"%s: %s" % (k.encode(), v.encode()) for k, v in given)
    get, empty_post, post = server.requests
    assert get.head == b"GET /v1/models?limit=2 HTTP/1.1\r\n" + host + b"\r\n" + sent
    assert empty_post.head == b"POST /v1/messages HTTP/1.1\r\n" + host + b"\r\n" + sent + b"\r\nContent-Length: 0"
    assert post.head.endswith(sent + b"\r\nContent-Length: 14") and post.body == b'{"model": "m"}'


@pytest.mark.parametrize("url, host", [
    ("http://api.example.com", "api.example.com"),
    ("http://api.example.com:80", "api.example.com"),
    ("https://api.example.com", "api.example.com"),
    ("https://api.example.com:443", "api.example.com"),
    ("https://api.example.com:8443", "api.example.com:8443"),
    ("http://api.example.com:443", "api.example.com:443"),
    ("http://[::1]:8080", "[::1]:8080"),
])
async def test_host_header_leaves_out_default_ports(make_pool, url, host):
    head = make_pool(url).head("GET", "/", [], b"")
    assert head == f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


async def test_base_url_path_prefix_is_prepended(raw_upstream):
    server = await raw_upstream()
    upstream = Upstream(f"{server.url}/gateway/anthropic/", connect_timeout=1, read_timeout=1, pool_size=1)
    await upstream.start()
    try:
        resp = await upstream.send("POST", "/v1/messages?beta=true", {"x-api-key": "k"}, b"{}")
        assert await resp.read() == b"ok"
        resp.release()
    finally:
        await upstream.close()
    assert server.requests[0].line == b"POST /gateway/anthropic/v1/messages?beta=true HTTP/1.1"


@pytest.mark.parametrize("header", [("X-Evil", "a\r\nInjected: 1"), ("X-Evil", "a\nb"), ("X-Evil", "a\rb"),
                                    ("X-Evil\r\nInjected", "1")])
async def test_a_line_break_in_a_header_is_refused_before_anything_is_sent(raw_upstream, make_pool, header):
    server = await raw_upstream()
    with pytest.raises(ValueError):
        await make_pool(server.url).request("GET", "/", [header], b"")
    error = await send_via_upstream(server.url, headers=dict([header]))
    assert error.status == 400 and "line break" in str(error)
    assert server.conns == []


# --- failures ---------------------------------------------------------------------------------------

async def test_connection_refused(make_pool):
    with socket.socket() as held:  # bound but not listening: the port is ours, and refuses
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(http1.ConnectError) as caught:
            await make_pool(url).request("GET", "/", [], b"")
        assert isinstance(caught.value.os_error, ConnectionRefusedError)
        error = await send_via_upstream(url)
    assert error.status == 502
    assert str(error) == f"cannot reach upstream 127.0.0.1:{port}: connection refused"


async def test_connection_refused_on_every_address_of_a_name_is_still_one_plain_reason():
    with socket.socket() as held:  # localhost is often both ::1 and 127.0.0.1: Python then says "Multiple exceptions"
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        error = await send_via_upstream(f"http://localhost:{port}")
    assert str(error) == f"cannot reach upstream localhost:{port}: connection refused"


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full accept queue")
async def test_connect_timeout_when_the_listen_backlog_is_full(make_pool):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # never accepted: once the queue is full, the kernel drops new SYNs
        address = listener.getsockname()
        fillers = [socket.socket() for _ in range(8)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(address)
            await asyncio.sleep(0.05)
            started = time.monotonic()
            with pytest.raises(http1.ConnectTimeout):
                await make_pool("http://%s:%d" % address, connect_timeout=0.3).request("GET", "/", [], b"")
            assert 0.25 < time.monotonic() - started < 1.5
        finally:
            for filler in fillers:
                filler.close()


async def test_no_answer_is_a_response_timeout_and_504(raw_upstream, make_pool):
    server = await raw_upstream(silent)
    started = time.monotonic()
    with pytest.raises(http1.ResponseTimeout):
        await make_pool(server.url, read_timeout=0.3).request("GET", "/", [], b"")
    assert 0.25 < time.monotonic() - started < 1.5
    await asyncio.wait_for(server.conns[0].eof.wait(), 2)  # the spent connection is closed
    error = await send_via_upstream(server.url, read_timeout=0.3)
    assert (error.status, str(error)) == (504, f"upstream 127.0.0.1:{server.port} sent no response within 0.3s")


async def test_closed_before_answering_is_disconnected_and_502(raw_upstream, make_pool):
    server = await raw_upstream(reply(close=True))
    with pytest.raises(http1.Disconnected):
        await make_pool(server.url).request("GET", "/", [], b"")
    error = await send_via_upstream(server.url)
    assert error.status == 502 and "closed the connection before answering" in str(error)
    assert len(server.requests) == 2  # a fresh connection is never retried


@pytest.mark.parametrize("answer", [b"HTTP/1.1 abc OK\r\n\r\n", b"SMTP ready\r\n\r\n",
                                    b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"])
async def test_malformed_response_is_bad_response_and_502(raw_upstream, make_pool, answer):
    server = await raw_upstream(reply(answer, hang=True))
    with pytest.raises(http1.BadResponse):
        await make_pool(server.url).request("GET", "/", [], b"")
    error = await send_via_upstream(server.url)
    assert error.status == 502 and "malformed response" in str(error)
    await asyncio.wait_for(server.conns[0].eof.wait(), 2)


@pytest.mark.parametrize("flood", [b"X-A: " + b"a" * 1000 + b"\r\n", b"a" * 4096], ids=["header lines", "one line"])
async def test_response_headers_that_never_end_are_refused_at_a_bound(raw_upstream, make_pool, flood):
    """An upstream that keeps sending headers must not grow the proxy until it is killed."""
    server = await raw_upstream(reply(b"HTTP/1.1 200 OK\r\nX-Long: ", *([flood] * 400), hang=True, pause=0.001))
    started = time.monotonic()
    with pytest.raises(http1.BadResponse, match="KiB of response headers"):
        await make_pool(server.url).request("GET", "/", [], b"")
    assert time.monotonic() - started < 5


async def test_a_transfer_encoding_not_ending_in_chunked_ends_at_close(raw_upstream, make_pool):
    """RFC 9112 6.3: the body runs until the connection closes, and is then complete."""
    body = b'{"type": "message"}'
    server = await raw_upstream(reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n", body, close=True))
    resp, data = await fetch(make_pool(server.url))
    assert (resp.status, data) == (200, body)


async def test_a_transfer_coding_the_proxy_does_not_decode_is_502(raw_upstream, make_pool):
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(gzip.compress(b"{}")), gzip.compress(b"{}"))
    server = await raw_upstream(reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + chunked,
                                      hang=True))
    with pytest.raises(http1.BadResponse, match="transfer coding 'gzip'"):
        await make_pool(server.url).request("GET", "/", [], b"")
    error = await send_via_upstream(server.url)
    assert error.status == 502 and "gzip" in str(error)


@pytest.mark.parametrize("how", ["readany", "read"])
@pytest.mark.parametrize("head", [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
                                  b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"])
async def test_body_cut_short_is_a_body_error(raw_upstream, make_pool, head, how):
    part = b"a" * 10 if b"Content-Length" in head else b"a\r\na\r\n"
    server = await raw_upstream(reply(head, part, close=True))
    resp = await make_pool(server.url).request("GET", "/", [], b"")
    with pytest.raises(http1.BodyError):
        if how == "read":
            await resp.read()
        else:
            await read_chunks(resp)


async def test_silence_mid_body_times_out_after_the_read_timeout(raw_upstream, make_pool):
    server = await raw_upstream(reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", b"0123456789", hang=True))
    resp = await make_pool(server.url, read_timeout=0.3).request("GET", "/", [], b"")
    assert await resp.readany() == b"0123456789"
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await resp.readany()
    assert 0.25 < time.monotonic() - started < 1.5
    resp.close()
    await asyncio.wait_for(server.conns[0].eof.wait(), 2)


def test_a_multiple_exceptions_error_with_one_cause_reads_as_that_cause():
    # what asyncio raises when each address of a name fails with its own message
    error = OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 9, 0, 0), "
                    "[Errno 111] Connect call failed ('127.0.0.1', 9)")
    assert describe_os_error(error) == "connection refused"
    mixed = OSError("Multiple exceptions: [Errno 111] Connect call failed, [Errno 101] Network is unreachable")
    assert describe_os_error(mixed).startswith("multiple exceptions")
