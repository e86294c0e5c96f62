"""The proxy's HTTP/1.1 client (claude_proxy/proxy/upstream/http1/): connection flow over real sockets.

Stale keep-alive connections, cancellation, backpressure on large bodies, the pool's
connection limit, and TLS. Framing, the wire format and failures are in test_http1.py.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import random
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from claude_proxy.proxy.errors import ProxyError
from claude_proxy.proxy.upstream import http1
from claude_proxy.proxy.upstream.client import Upstream
from tests.support.raw_upstream import Conn, Request, fetch, reply, response, silent

pytestmark = pytest.mark.processes

CL_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
OPEN_HEAD = b"HTTP/1.1 200 OK\r\n\r\n"  # the body ends when the connection does


async def echo(conn: Conn, request: Request) -> None:
    conn.writer.write(response(request.body))


# --- a kept-alive connection the upstream dropped -------------------------------------------------

async def test_a_kept_alive_connection_the_upstream_closed_is_not_reused(raw_upstream, make_pool):
    server = await raw_upstream()
    answered: list[bytes] = []

    async def script(conn: Conn, request: Request) -> None:
        answered.append(request.body)
        await echo(conn, request)
        conn.writer.close()  # no "Connection: close": only the socket says it is over

    server.script = script
    pool = make_pool(server.url)
    assert (await fetch(pool, "POST", body=b"first"))[1] == b"first"
    await asyncio.sleep(0.1)  # the upstream's end of stream is on our socket, unread
    assert (await fetch(pool, "POST", body=b"second"))[1] == b"second"
    assert answered == [b"first", b"second"]
    assert len(server.conns) == 2


async def test_a_request_the_upstream_read_and_dropped_is_not_sent_again(raw_upstream, make_pool):
    server = await raw_upstream()

    async def script(conn: Conn, request: Request) -> None:
        if len(conn.requests) == 2:
            conn.writer.close()  # read, then dropped unanswered: it may have acted on it
            return
        await echo(conn, request)

    server.script = script
    pool = make_pool(server.url)
    await fetch(pool, "POST", body=b"first")
    with pytest.raises(http1.Disconnected):
        await pool.request("POST", "/", [], b"second")
    assert [r.body for r in server.requests] == [b"first", b"second"]
    assert len(server.conns) == 1


async def test_idle_connections_are_closed_after_keepalive_without_a_new_request(raw_upstream, make_pool):
    server = await raw_upstream()
    pool = make_pool(server.url, keepalive=0.2)
    await fetch(pool)
    await fetch(pool)
    assert len(server.conns) == 1
    await asyncio.wait_for(server.conns[0].eof.wait(), 2)  # the pool closed it on its own


async def test_a_reused_connection_that_began_answering_is_not_retried(raw_upstream, make_pool):
    server = await raw_upstream()

    async def script(conn: Conn, request: Request) -> None:
        if len(conn.requests) == 1:
            await echo(conn, request)
        else:  # the upstream got this one and started to answer: sending it again could repeat it
            conn.writer.write(b"HTTP/1.1 200 OK\r\n")
            conn.writer.close()

    server.script = script
    pool = make_pool(server.url)
    await fetch(pool, "POST", body=b"first")
    with pytest.raises(http1.Disconnected):
        await pool.request("POST", "/", [], b"second")
    assert [r.body for r in server.requests] == [b"first", b"second"]


# --- cancellation -------------------------------------------------------------------------------------

async def test_cancelling_a_pending_request_closes_its_connection(raw_upstream, make_pool):
    server = await raw_upstream(silent)
    pool = make_pool(server.url)
    task = asyncio.create_task(pool.request("POST", "/", [], b"{}"))
    while not server.requests:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(server.conns[0].eof.wait(), 2)  # the upstream can stop generating
    server.script = reply(response())
    assert (await fetch(pool))[1] == b"ok"
    assert len(server.conns) == 2


@pytest.mark.parametrize("head", [CL_HEAD, CHUNKED_HEAD, OPEN_HEAD], ids=["length", "chunked", "until-close"])
async def test_closing_a_response_mid_body_closes_the_connection(raw_upstream, make_pool, head):
    part = b"5\r\nhello\r\n" if head is CHUNKED_HEAD else b"hello"
    server = await raw_upstream(reply(head, part, hang=True))
    resp = await make_pool(server.url).request("GET", "/", [], b"")
    assert await resp.readany() == b"hello"
    resp.close()
    await asyncio.wait_for(server.conns[0].eof.wait(), 2)
    with pytest.raises(http1.BodyError):
        await resp.readany()


@pytest.mark.parametrize("head", [CL_HEAD, CHUNKED_HEAD, OPEN_HEAD], ids=["length", "chunked", "until-close"])
async def test_closing_the_pool_mid_body_fails_the_body_instead_of_ending_it(raw_upstream, make_pool, head):
    part = b"5\r\nhello\r\n" if head is CHUNKED_HEAD else b"hello"
    server = await raw_upstream(reply(head, part, hang=True))
    pool = make_pool(server.url)
    resp = await pool.request("GET", "/", [], b"")
    assert await resp.readany() == b"hello"
    await pool.close()  # shutting down: a cut body must not pass for a complete one
    with pytest.raises(http1.BodyError):
        await resp.readany()
    with pytest.raises(http1.Disconnected):
        await pool.request("GET", "/", [], b"")


async def test_a_slot_waiter_cancelled_as_it_is_woken_passes_the_slot_on(raw_upstream, make_pool):
    server = await raw_upstream()
    pool = make_pool(server.url, limit=1)
    first = await pool.request("GET", "/", [], b"")
    await first.read()
    leaving, waiting = asyncio.create_task(fetch(pool)), asyncio.create_task(fetch(pool))
    await asyncio.sleep(0.05)  # both queued for the one connection
    first.release()  # wakes `leaving`...
    leaving.cancel()  # ...whose client goes away before it can take the connection
    assert (await asyncio.wait_for(waiting, 2))[1] == b"ok"
    assert len(server.conns) == 1


# --- backpressure ---------------------------------------------------------------------------------------

def big_body_script(body: bytes, chunked: bool):
    async def script(conn: Conn, request: Request) -> None:
        conn.writer.write(CHUNKED_HEAD if chunked else b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 64 * 1024):
            piece = body[i:i + 64 * 1024]
            conn.writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            await conn.writer.drain()
        conn.writer.write(b"0\r\n\r\n" if chunked else b"")
    return script


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
async def test_a_slow_reader_of_a_large_body_bounds_memory_and_gets_every_byte(raw_upstream, make_pool, chunked):
    body = random.Random(7).randbytes(6 * 1024 * 1024)
    server = await raw_upstream(big_body_script(body, chunked))
    pool = make_pool(server.url)
    resp = await pool.request("GET", "/", [], b"")
    received, peak, paused = bytearray(), 0, False
    while True:
        await asyncio.sleep(0.003)  # a slow client downstream
        peak, paused = max(peak, resp._buffered), paused or resp._paused
        chunk = await resp.readany()
        if not chunk:
            break
        received += chunk
    assert received == body
    assert paused and peak <= 3 * http1.HIGH_WATER
    resp.release()
    assert (await fetch(pool))[0].status == 200
    assert len(server.conns) == 1


@pytest.mark.parametrize("arrived_first", [False, True])
async def test_reading_a_large_body_whole_leaves_the_connection_reusable(raw_upstream, make_pool, arrived_first):
    body = b"x" * (3 * http1.HIGH_WATER)
    server = await raw_upstream(big_body_script(body, chunked=False))
    pool = make_pool(server.url, read_timeout=1.0)
    for _ in range(2):
        resp = await pool.request("GET", "/", [], b"")
        if arrived_first:
            await asyncio.sleep(0.1)
        assert await resp.read() == body
        resp.release()
    assert len(server.conns) == 1


# --- the pool limit --------------------------------------------------------------------------------------

@pytest.mark.parametrize("hand_back", ["release", "close"])
async def test_at_the_limit_a_request_waits_for_a_connection(raw_upstream, make_pool, hand_back):
    server = await raw_upstream()
    pool = make_pool(server.url, limit=2)
    first = await pool.request("GET", "/", [], b"")
    second = await pool.request("GET", "/", [], b"")
    third = asyncio.create_task(fetch(pool))
    await asyncio.sleep(0.1)
    assert not third.done() and len(server.requests) == 2
    await first.read()
    getattr(first, hand_back)()
    assert (await asyncio.wait_for(third, 2))[1] == b"ok"
    assert len(server.conns) == (2 if hand_back == "release" else 3)
    second.close()


# --- TLS --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for IP 127.0.0.1: (cert.pem, key.pem)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
    except ImportError:
        if not shutil.which("openssl"):
            pytest.skip("neither the cryptography package nor the openssl CLI is available")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    built = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
             .sign(private, hashes.SHA256()))
    cert.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key


@pytest.fixture
async def tls_upstream(raw_upstream, certificate):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return await raw_upstream(reply(response(b"secret")), tls=context)


async def test_an_untrusted_certificate_is_a_502_that_says_so(tls_upstream, make_pool):
    with pytest.raises(http1.CertificateError):
        await make_pool(tls_upstream.url, tls=ssl.create_default_context()).request("GET", "/", [], b"")
    upstream = Upstream(tls_upstream.url, connect_timeout=2, read_timeout=2, pool_size=1)
    await upstream.start()
    try:
        with pytest.raises(ProxyError) as caught:
            await upstream.send("POST", "/v1/messages", {}, b"{}")
    finally:
        await upstream.close()
    assert caught.value.status == 502
    assert f"upstream 127.0.0.1:{tls_upstream.port}: TLS certificate verification failed" in str(caught.value)
    assert tls_upstream.requests == []


async def test_a_trusted_certificate_carries_requests_on_one_connection(tls_upstream, make_pool, certificate):
    pool = make_pool(tls_upstream.url, tls=ssl.create_default_context(cafile=str(certificate[0])))
    for _ in range(2):
        resp, data = await fetch(pool, "POST", "/v1/messages", [("x-api-key", "k")], b"{}")
        assert (resp.status, data) == (200, b"secret")
    assert len(tls_upstream.conns) == 1
    assert tls_upstream.requests[0].line == b"POST /v1/messages HTTP/1.1"
