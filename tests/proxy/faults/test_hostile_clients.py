"""Hostile and odd clients against a real ``claude-proxy serve``: request targets, bodies a rule
cannot handle, Claude Code's probe, the route header after a fallback, and one layer of retries.
"""

from __future__ import annotations

import json
import socket
import sys
from urllib.parse import urlsplit

import anthropic
import httpx
import pytest

from tests.proxy.faults.conftest import child_env, row_for, start_serve
from tests.support.faulty_upstream import FaultyUpstream, refused_url

pytestmark = pytest.mark.processes

PLAIN = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hello, world"}]}


@pytest.fixture(scope="module")
def upstream():
    with FaultyUpstream(model_faults={"claude-opus-4-5": "529-forever", "overloaded": "529-forever"}) as up:
        yield up


@pytest.fixture(scope="module")
def proxy(upstream, tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile")
    config = {
        "upstream": {"base_url": upstream.url + "/base", "retries": 2, "retry_backoff": 0.01,
                     "retry_backoff_max": 0.05},
        "rewrite": {"append_to_last_user": " and say moo"},
        "routes": {"claude-opus-4-5": {"backend": "upstream", "fallbacks": ["plain"]},
                   "plain": {"backend": "upstream", "model": "claude-haiku-4-5"}},
    }
    served = start_serve([sys.executable, "-m", "claude_proxy"], child_env(work / "home"), work, config)
    yield served
    served.terminate()


def _raw(url: str, request_line: str) -> tuple[int, bytes]:
    """Send one request exactly as written; the status and body of the answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"{request_line}\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


@pytest.mark.parametrize("target", [
    "/v1/../x", "/v1/./models", "/v1/%2e%2e/x", "/v1/%2E%2e/%2e%2e/x", "/v1/.%2e/x", "/v1/%252e%252e/x",
    "/v1/..%2fx", "/v1/%2f%2e%2e/x", "/v1\\..\\x", "//evil.example/v1/models",
])
def test_hostile_targets_are_refused_and_never_reach_the_upstream(proxy, upstream, target):
    before = len(upstream.received)
    status, body = _raw(proxy.url, f"GET {target} HTTP/1.1")
    assert status == 400
    assert json.loads(body)["error"]["type"] == "invalid_request_error"
    assert len(upstream.received) == before


@pytest.mark.parametrize("line", ["GET {upstream}/v1/models HTTP/1.1", "OPTIONS * HTTP/1.1",
                                  "CONNECT 127.0.0.1:1 HTTP/1.1", "GET * HTTP/1.1"])
def test_absolute_asterisk_and_authority_form_targets_are_refused(proxy, upstream, line):
    before = len(upstream.received)
    status, body = _raw(proxy.url, line.format(upstream=upstream.url))
    assert status == 400
    if not line.startswith("GET *"):  # that one the HTTP parser itself refuses, before any handler
        assert json.loads(body)["error"]["type"] == "invalid_request_error"
    assert len(upstream.received) == before


def test_a_plain_target_goes_under_the_base_url_prefix(proxy, upstream):
    status, _ = _raw(proxy.url, "GET /v1/files?limit=5 HTTP/1.1")
    assert status == 200
    assert upstream.received[-1].path == "/base/v1/files?limit=5"


def test_claude_codes_head_probe_gets_200(proxy):
    assert httpx.head(proxy.url + "/", timeout=10).status_code == 200


def test_append_to_last_user_adds_the_text_exactly_as_written(proxy, upstream):
    response = httpx.post(proxy.url + "/v1/messages", json=PLAIN, timeout=10)
    assert response.status_code == 200
    sent = json.loads(upstream.received[-1].body)
    assert sent["messages"][-1]["content"] == "Hello, world and say moo"


@pytest.mark.parametrize("body", [
    b'{"model":"claude-haiku-4-5","messages":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"model":"claude-haiku-4-5","max_tokens":5,"messages":[{"role":"user","content":"\\ud800 hi"}]}',
    b'{"model":"claude-opus-4-5","max_tokens":5,"messages":[{"role":"user","content":"\\udfff"}]}',
    b'{"model":"claude-haiku-4-5","x":' + b'{"a":' * 5_000 + b"1" + b"}" * 5_000 + b"}",
], ids=["deep-arrays", "lone-surrogate", "lone-surrogate-routed", "deep-objects"])
def test_a_body_a_rule_cannot_handle_is_a_400_and_the_row_keeps_it(proxy, upstream, body):
    before = len(upstream.received)
    response = httpx.post(proxy.url + "/v1/messages", content=body,
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert len(upstream.received) == before
    row = row_for(proxy.db, response.headers["x-claude-proxy-id"])
    assert row["status"] == 400
    assert row["request_body"].encode("utf-8", "surrogatepass")[:64] == body[:64]
    assert "internal" not in proxy.stderr() and "Traceback" not in proxy.stderr()


def test_after_a_fallback_the_route_header_names_the_route_that_answered(proxy):
    body = {**PLAIN, "model": "claude-opus-4-5"}
    response = httpx.post(proxy.url + "/v1/messages", json=body, timeout=30)
    assert response.status_code == 200
    assert response.headers["x-claude-proxy-route"] == "upstream/claude-haiku-4-5"
    assert row_for(proxy.db, response.headers["x-claude-proxy-id"])["route"] == "upstream/claude-haiku-4-5"


def _attempts(upstream: FaultyUpstream, model: str) -> int:
    return sum(1 for r in upstream.received if json.loads(r.body or b"{}").get("model") == model)


def test_a_529_to_an_sdk_client_is_retried_by_the_client_alone(proxy, upstream):
    client = anthropic.Anthropic(base_url=proxy.url, api_key="sk-ant-test-0000", max_retries=2)
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(**{**PLAIN, "model": "overloaded"})
    assert caught.value.status_code == 529
    assert _attempts(upstream, "overloaded") == 3  # the SDK's three tries, not three times three


def test_a_client_without_retries_of_its_own_gets_the_proxys(proxy, upstream):
    before = _attempts(upstream, "overloaded")
    response = httpx.post(proxy.url + "/v1/messages", json={**PLAIN, "model": "overloaded"}, timeout=30)
    assert response.status_code == 529
    assert _attempts(upstream, "overloaded") - before == 3
    assert row_for(proxy.db, response.headers["x-claude-proxy-id"])["attempts"] == 3


def test_a_connection_failure_is_still_retried_for_a_retrying_client(tmp_path):
    config = {"upstream": {"base_url": refused_url(), "retries": 2, "retry_backoff": 0.01}}
    served = start_serve([sys.executable, "-m", "claude_proxy"], child_env(tmp_path / "home"), tmp_path, config)
    try:
        response = httpx.post(served.url + "/v1/messages", json=PLAIN, timeout=30,
                              headers={"x-stainless-retry-count": "0"})
        assert response.status_code == 502
        assert row_for(served.db, response.headers["x-claude-proxy-id"])["attempts"] == 3
    finally:
        served.terminate()


def test_a_setting_restores_proxy_retries_for_retrying_clients(upstream, tmp_path):
    config = {"upstream": {"base_url": upstream.url, "retries": 1, "retry_backoff": 0.01,
                           "retry_when_client_retries": True}}
    served = start_serve([sys.executable, "-m", "claude_proxy"], child_env(tmp_path / "home"), tmp_path, config)
    try:
        before = _attempts(upstream, "overloaded")
        client = anthropic.Anthropic(base_url=served.url, api_key="sk-ant-test-0000", max_retries=0)
        with pytest.raises(anthropic.APIStatusError):
            client.messages.create(**{**PLAIN, "model": "overloaded"})
        assert _attempts(upstream, "overloaded") - before == 2
    finally:
        served.terminate()
