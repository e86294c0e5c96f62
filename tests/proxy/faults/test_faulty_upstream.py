"""The fault-injection upstream itself misbehaves exactly as the other tests rely on."""

from __future__ import annotations

import httpx
import pytest

from tests.support.faulty_upstream import FaultyUpstream, refused_url

STREAM = b'{"model": "claude-sonnet-4-5", "stream": true, "max_tokens": 5, "messages": []}'
PLAIN = b'{"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": []}'


@pytest.fixture(scope="module")
def upstream():
    with FaultyUpstream(model_faults={"overloaded-model": "529-forever"}) as up:
        yield up


def _post(upstream, fault=None, body=PLAIN, fid="t", timeout=5.0):
    headers = {"x-fault-id": fid}
    if fault:
        headers["x-fault"] = fault
    return httpx.post(upstream.url + "/v1/messages", content=body, headers=headers, timeout=timeout)


def test_ok_stream_replays_the_fixture(upstream, fixtures_dir):
    r = _post(upstream, body=STREAM)
    assert r.status_code == 200
    assert r.content == (fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes()


def test_counted_faults(upstream):
    assert [_post(upstream, "529x2", fid="a").status_code for _ in range(3)] == [529, 529, 200]
    first = _post(upstream, "429-then-ok", fid="b")
    assert first.status_code == 429 and first.headers["retry-after"] == "1"
    assert _post(upstream, "429-then-ok", fid="b").status_code == 200
    assert _post(upstream, body=b'{"model": "overloaded-model"}').status_code == 529


def test_broken_streams(upstream):
    with pytest.raises(httpx.ReadTimeout):
        _post(upstream, "hang-headers", timeout=0.3)
    with pytest.raises(httpx.ReadTimeout):
        _post(upstream, "hang-mid", body=STREAM, timeout=0.3)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        _post(upstream, "reset-mid", body=STREAM)
    r = _post(upstream, "malformed-sse", body=STREAM)
    assert r.status_code == 200 and b"not json at all" in r.content
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        _post(upstream, "refuse")


def test_refused_url_refuses():
    with pytest.raises(httpx.ConnectError):
        httpx.get(refused_url(), timeout=2)
