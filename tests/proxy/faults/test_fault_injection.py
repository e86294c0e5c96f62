"""Fault injection against a real ``claude-proxy serve`` and a misbehaving upstream on 127.0.0.1.

One proxy serves most cases (retries on, short backoff and idle timeout); the
cases that need their own settings start their own.
"""

from __future__ import annotations

import json
import sys

import anthropic
import httpx
import pytest

from tests.proxy.faults.conftest import child_env, log_rows, row_for, start_serve, wait_until
from tests.support.faulty_upstream import FaultyUpstream, refused_url

pytestmark = pytest.mark.processes

STREAM_BODY = {"model": "claude-haiku-4-5", "max_tokens": 64, "stream": True,
               "messages": [{"role": "user", "content": "Hello"}]}
PLAIN_BODY = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}]}


@pytest.fixture(scope="module")
def upstream():
    with FaultyUpstream(model_faults={"claude-opus-4-1": "529-forever", "claude-opus-4-5": "529-forever"}) as up:
        yield up


@pytest.fixture(scope="module")
def proxy(upstream, tmp_path_factory):
    work = tmp_path_factory.mktemp("faults")
    config = {
        # the SDK clients here say they retry (x-stainless-retry-count); these tests are about the proxy's own
        # retries, so it keeps them (the default rule is in test_hostile_clients.py)
        "upstream": {"base_url": upstream.url, "retries": 2, "retry_backoff": 0.01, "retry_backoff_max": 0.05,
                     "read_timeout": 0.5, "retry_when_client_retries": True},
        "server": {"max_body_size": 100_000},
        "backends": {"main": {"kind": "anthropic", "base_url": upstream.url}},
        "routes": {"claude-opus-4-1": {"backend": "main", "fallbacks": ["haiku"]},
                   "haiku": {"backend": "main", "model": "claude-haiku-4-5"},
                   "claude-opus-4-5": {"backend": "upstream", "fallbacks": ["plain"]},
                   "plain": {"backend": "upstream", "model": "claude-haiku-4-5"}},
    }
    served = start_serve([sys.executable, "-m", "claude_proxy"], child_env(work / "home"), work, config)
    yield served
    served.terminate()


def _post(proxy, fault: str | None, body=PLAIN_BODY, fid: str = "", **kw) -> httpx.Response:
    headers = {"x-fault-id": fid or (fault or "none")}
    if fault:
        headers["x-fault"] = fault
    return httpx.post(proxy.url + "/v1/messages", json=body, headers=headers, timeout=30, **kw)


def _sdk(proxy, **headers: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key="sk-ant-test-key-0000", max_retries=0,
                               default_headers=headers)


def test_529_twice_then_success_is_invisible_to_the_client(proxy, upstream, fixtures_dir):
    message = _sdk(proxy, **{"x-fault": "529x2", "x-fault-id": "sdk-529"}).messages.create(**PLAIN_BODY)
    assert message.content[0].text
    assert upstream.count(fault="529x2") == 3


def test_429_with_retry_after_then_success(proxy, upstream):
    resp = _post(proxy, "429-then-ok", fid="429-a")
    assert resp.status_code == 200
    row = row_for(proxy.db, resp.headers["x-claude-proxy-id"])
    assert row["status"] == 200 and row["attempts"] == 2
    assert json.loads(row["attempt_log"]) == [{"n": 1, "status": 429, "wait_ms": 1000}, {"n": 2, "status": 200}]


def test_streams_are_retried_before_the_first_byte_only(proxy, fixtures_dir):
    resp = _post(proxy, "529x2", STREAM_BODY, fid="stream-529")
    assert resp.status_code == 200
    assert resp.content == (fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes()
    assert row_for(proxy.db, resp.headers["x-claude-proxy-id"])["attempts"] == 3


def test_529_forever_without_fallback_reaches_the_client_after_the_retries(proxy, upstream):
    with pytest.raises(anthropic.OverloadedError) as caught:
        _sdk(proxy, **{"x-fault": "529-forever", "x-fault-id": "forever"}).messages.create(**PLAIN_BODY)
    assert caught.value.status_code == 529
    assert upstream.count(fault="529-forever") >= 3
    row = row_for(proxy.db, caught.value.response.headers["x-claude-proxy-id"])
    assert row["status"] == 529 and row["attempts"] == 3


def test_529_forever_moves_to_the_fallback_route(proxy, upstream):
    before = len(upstream.received)
    body = dict(PLAIN_BODY, model="claude-opus-4-1")
    raw = _sdk(proxy).messages.with_raw_response.create(**body)
    assert raw.parse().content[0].text
    sent = upstream.received[before:]
    assert [json.loads(r.body)["model"] for r in sent] == ["claude-opus-4-1"] * 3 + ["claude-haiku-4-5"]
    row = row_for(proxy.db, raw.headers["x-claude-proxy-id"])
    assert row["route"] == "main/claude-haiku-4-5" and row["attempts"] == 4 and row["status"] == 200
    tries = json.loads(row["attempt_log"])
    assert [(a["n"], a["target"], a["status"]) for a in tries] == [
        (1, "claude-opus-4-1", 529), (2, "claude-opus-4-1", 529), (3, "claude-opus-4-1", 529), (4, "haiku", 200)]
    assert all(a["wait_ms"] >= 0 for a in tries[:2])
    assert 'claude_proxy_fallbacks_total{from_route="claude-opus-4-1",to_route="haiku"} 1.0' in proxy.metrics()


def test_a_fallback_may_be_the_pass_through_upstream_itself(proxy, upstream):
    raw = _sdk(proxy).messages.with_raw_response.create(**dict(PLAIN_BODY, model="claude-opus-4-5"))
    assert raw.parse().content[0].text
    row = row_for(proxy.db, raw.headers["x-claude-proxy-id"])
    assert row["route"] == "upstream/claude-haiku-4-5" and row["attempts"] == 4


def test_an_unknown_fallback_stops_serve_with_one_line(cli, cli_env, tmp_path):
    import subprocess

    config = tmp_path / "bad.yaml"
    config.write_text("backends: {a: {base_url: 'http://127.0.0.1:9'}}\n"
                      "routes: {big: {backend: a, fallbacks: [nowhere]}}\n")
    done = subprocess.run([*cli, "serve", "--port", "0", "--no-log", "--config", str(config)], env=cli_env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "'routes.big.fallbacks': unknown route 'nowhere'" in done.stderr
    assert done.stderr.count("\n") == 1


def test_hang_before_headers_is_504_after_the_retries(proxy, upstream):
    resp = _post(proxy, "hang-headers", fid="hang")
    assert resp.status_code == 504
    assert resp.json()["error"]["type"] == "timeout_error"
    assert row_for(proxy.db, resp.headers["x-claude-proxy-id"])["attempts"] == 3


def test_hang_mid_stream_ends_with_an_error_event(proxy, fixtures_dir):
    resp = _post(proxy, "hang-mid", STREAM_BODY, fid="hang-mid")
    assert resp.status_code == 200
    events = (fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes().split(b"\n\n")
    assert resp.content.startswith(events[0] + b"\n\n" + events[1] + b"\n\n")
    assert b"event: error" in resp.content and b"api_error" in resp.content
    row = row_for(proxy.db, resp.headers["x-claude-proxy-id"])
    assert "timed out" in row["error"] and row["attempts"] == 1


def test_reset_mid_stream_ends_with_an_error_event(proxy):
    with pytest.raises(anthropic.APIError) as caught:
        with _sdk(proxy, **{"x-fault": "reset-mid"}).messages.stream(**{k: v for k, v in STREAM_BODY.items()
                                                                        if k != "stream"}) as stream:
            for _ in stream:
                pass
    assert "closed the connection" in str(caught.value)


def test_malformed_sse_is_relayed_as_is_and_the_proxy_carries_on(proxy):
    resp = _post(proxy, "malformed-sse", STREAM_BODY)
    assert resp.status_code == 200 and b"data: not json at all" in resp.content
    assert _post(proxy, None).status_code == 200


def test_a_client_that_disconnects_mid_stream_cancels_the_upstream(proxy, upstream):
    before = upstream.count(outcome="cancelled")
    with httpx.stream("POST", proxy.url + "/v1/messages", json=STREAM_BODY, timeout=30,
                      headers={"x-fault": "slow:20", "x-fault-id": "gone"}) as resp:
        entry_id = resp.headers["x-claude-proxy-id"]
        next(resp.iter_raw())
    assert wait_until(lambda: upstream.count(outcome="cancelled") > before, timeout=5)
    row = row_for(proxy.db, entry_id)
    assert row["status"] == 499


def test_a_body_over_the_limit_is_413(proxy, upstream):
    before = len(upstream.received)
    resp = httpx.post(proxy.url + "/v1/messages", content=b"x" * 200_000, timeout=30,
                      headers={"content-type": "application/json"})
    assert resp.status_code == 413 and resp.json()["error"]["type"] == "request_too_large"
    assert len(upstream.received) == before
    assert row_for(proxy.db, resp.headers["x-claude-proxy-id"])["status"] == 413


def test_health_ready_and_metrics(proxy):
    ready = httpx.get(proxy.url + "/health/ready", timeout=10)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    text = proxy.metrics()
    assert 'claude_proxy_upstream_retries_total{reason="529"}' in text
    assert 'endpoint="/v1/messages"' in text and "claude_proxy_time_to_first_byte_seconds_bucket" in text


def test_connection_refused_is_502_naming_the_host_after_the_retries(serve, tmp_path):
    target = refused_url()
    served = serve({"upstream": {"base_url": target, "retry_backoff": 0.01}})
    resp = httpx.post(served.url + "/v1/messages", json=PLAIN_BODY, timeout=30)
    assert resp.status_code == 502
    error = resp.json()["error"]
    assert error["type"] == "api_error" and target.removeprefix("http://") in error["message"]
    assert row_for(served.db, resp.headers["x-claude-proxy-id"])["attempts"] == 3
    ready = httpx.get(served.url + "/health/ready", timeout=10)
    assert ready.status_code == 503 and ready.json()["status"] == "not_ready"


def test_access_keys_guard_the_proxy_and_the_upstream_gets_its_own_key(serve, faulty):
    served = serve({"upstream": {"base_url": faulty.url, "api_key": "sk-ant-upstream-secret-9876"},
                    "server": {"auth_keys": ["team-key-one-1111"]}})
    assert "access keys: 1 (clients must present one)" in served.out.read_text()
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=served.url, api_key="wrong-key-2222", max_retries=0).messages.create(
            **PLAIN_BODY)
    assert faulty.received == []
    ok = anthropic.Anthropic(base_url=served.url, api_key="team-key-one-1111", max_retries=0)
    assert ok.messages.create(**PLAIN_BODY).content
    assert faulty.received[-1].headers.get("x-api-key") == "sk-ant-upstream-secret-9876"
    assert "team-key-one" not in json.dumps(faulty.received[-1].headers)
    rows = log_rows(served.db, wait_for=2)
    assert sorted(r["status"] for r in rows) == [200, 401]
    dumped = json.dumps(rows, default=lambda value: value.hex() if isinstance(value, bytes) else str(value))
    assert "team-key-one-1111" not in dumped and "sk-ant-upstream-secret-9876" not in dumped
    assert "wrong-key-2222" not in dumped and "2222" in dumped  # the refused key, masked
    assert "team-key-one-1111" not in served.stderr() and "wrong-key-2222" not in served.stderr()


def test_refuses_to_listen_beyond_loopback_without_keys(cli, cli_env, tmp_path):
    import subprocess

    done = subprocess.run([*cli, "serve", "--host", "0.0.0.0", "--port", "0", "--no-log"], env=cli_env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and "--allow-unauthenticated" in done.stderr
    assert "Traceback" not in done.stderr


def test_rate_limit_per_key(serve, faulty):
    served = serve({"upstream": {"base_url": faulty.url}, "limits": {"requests_per_minute": 2}})
    client = anthropic.Anthropic(base_url=served.url, api_key="client-key-aaaa", max_retries=0)
    client.messages.create(**PLAIN_BODY)
    client.messages.create(**PLAIN_BODY)
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(**PLAIN_BODY)
    assert int(caught.value.response.headers["retry-after"]) >= 1
    assert len(faulty.received) == 2


def test_over_the_concurrency_cap_is_529_not_a_hang(serve, faulty):
    served = serve({"upstream": {"base_url": faulty.url},
                    "limits": {"max_concurrent": 1, "queue_size": 0}})
    with httpx.stream("POST", served.url + "/v1/messages", json=STREAM_BODY, timeout=30,
                      headers={"x-fault": "slow:2"}) as first:
        chunks = first.iter_raw()  # keep the generator: dropping it closes the stream
        next(chunks)
        second = httpx.post(served.url + "/v1/messages", json=PLAIN_BODY, timeout=30)
        assert second.status_code == 529 and second.json()["error"]["type"] == "overloaded_error"
        assert second.headers["retry-after"] == "1"
        assert b"".join(chunks).rstrip().endswith(b'"message_stop"}')


def test_beyond_loopback_with_keys_or_the_explicit_flag(serve, faulty):
    flagged = serve({"upstream": {"base_url": faulty.url}}, "--host", "0.0.0.0", "--allow-unauthenticated",
                    name="open")
    assert httpx.get(flagged.url.replace("0.0.0.0", "127.0.0.1") + "/health", timeout=10).status_code == 200
    keyed = serve({"upstream": {"base_url": faulty.url}, "server": {"host": "0.0.0.0",
                                                                     "auth_keys": ["team-key-zz-4321"]}},
                  name="keyed")
    url = keyed.url.replace("0.0.0.0", "127.0.0.1")
    assert httpx.post(url + "/v1/messages", json=PLAIN_BODY, timeout=10).status_code == 401
    assert httpx.post(url + "/v1/messages", json=PLAIN_BODY, timeout=10,
                      headers={"authorization": "Bearer team-key-zz-4321"}).status_code == 200
