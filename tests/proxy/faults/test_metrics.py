"""Metrics in Prometheus text format, token usage from real responses, readiness."""

from __future__ import annotations

import asyncio
import socket

from prometheus_client.parser import text_string_to_metric_families

from claude_proxy.proxy.protection.metrics import MAX_MODELS, ProxyMetrics, endpoint_of
from claude_proxy.proxy.protection.readiness import UpstreamProbe, readiness
from claude_proxy.proxy.protection.usage import extract_usage


def _samples(metrics: ProxyMetrics) -> dict[tuple, float]:
    text, ctype = metrics.render()
    assert ctype.startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_requests_latency_ttfb_and_tokens_are_exposed():
    m = ProxyMetrics()
    m.observe(path="/v1/messages?beta=true", route=None, model="claude-sonnet-4-5", status=200,
              duration_s=0.2, ttfb_s=0.05, usage={"input_tokens": 10, "output_tokens": 5})
    m.observe(path="/v1/messages", route=None, model="claude-sonnet-4-5", status=529, duration_s=0.01)
    m.retried(529)
    m.retried(None)
    m.fell_back("big", "small")
    s = _samples(m)
    labels = (("endpoint", "/v1/messages"), ("model", "claude-sonnet-4-5"), ("route", "default"))
    assert s[("claude_proxy_requests_total", tuple(sorted(labels + (("status", "200"),))))] == 1
    assert s[("claude_proxy_requests_total", tuple(sorted(labels + (("status", "529"),))))] == 1
    hist = (("endpoint", "/v1/messages"), ("route", "default"))
    assert s[("claude_proxy_request_duration_seconds_count", hist)] == 2
    assert s[("claude_proxy_time_to_first_byte_seconds_count", hist)] == 1
    assert s[("claude_proxy_tokens_total", (("kind", "input"), ("model", "claude-sonnet-4-5")))] == 10
    assert s[("claude_proxy_tokens_total", (("kind", "output"), ("model", "claude-sonnet-4-5")))] == 5
    assert s[("claude_proxy_upstream_retries_total", (("reason", "529"),))] == 1
    assert s[("claude_proxy_upstream_retries_total", (("reason", "connection"),))] == 1
    assert s[("claude_proxy_fallbacks_total", (("from_route", "big"), ("to_route", "small")))] == 1


def test_hostile_model_names_cannot_grow_the_metrics_without_bound():
    m = ProxyMetrics()
    for i in range(MAX_MODELS + 500):
        m.observe(path="/v1/messages", route=None, model=f"junk-{i}", status=400)
    models = {dict(k[1]).get("model") for k in _samples(m) if k[0] == "claude_proxy_requests_total"}
    assert len(models) == MAX_MODELS + 1 and "other" in models


def test_endpoint_labels_are_bounded():
    assert endpoint_of("/v1/messages?beta=true") == "/v1/messages"
    assert endpoint_of("/v1/messages/count_tokens") == "/v1/messages/count_tokens"
    assert endpoint_of("/v1/messages/batches/msgbatch_123/results") == "/v1/messages/batches"
    assert endpoint_of("/v1/models/claude-x") == "/v1/models"
    assert endpoint_of("/v1/files/file_abc") == "/v1/files"
    assert endpoint_of("/v1/whatever/123") == "/v1/other"


def test_usage_from_a_json_message(fixtures_dir):
    body = (fixtures_dir / "anthropic" / "anthropic-response-message-text.json").read_bytes()
    usage = extract_usage(body)
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0


def test_usage_from_a_stream_takes_the_final_counts(fixtures_dir):
    body = (fixtures_dir / "anthropic" / "anthropic-stream-tool-use.sse").read_bytes()
    usage = extract_usage(body)
    assert usage["input_tokens"] > 0
    assert usage["output_tokens"] > 1  # message_delta's cumulative count, not message_start's


def test_usage_absent_or_quoted_in_text_is_not_counted():
    assert extract_usage(b"") == {}
    text = b'{"content": [{"text": "it said \\"input_tokens\\": 99"}], "usage": {"input_tokens": 3}}'
    assert extract_usage(text) == {"input_tokens": 3}


async def test_ready_when_the_upstream_accepts_connections():
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        status, body = await readiness([UpstreamProbe(f"http://127.0.0.1:{port}")], True, 3, 1, 0)
    finally:
        server.close()
        await server.wait_closed()
    assert status == 200 and body["status"] == "ready"
    assert body["log"] == {"healthy": True, "required": False, "queue_depth": 3}
    assert body["requests"] == {"in_flight": 1, "queued": 0}


async def test_not_ready_when_the_upstream_refuses_or_the_log_is_broken():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status, body = await readiness([UpstreamProbe(f"http://127.0.0.1:{port}")], False, 0, 0, 0, log_required=True)
    assert status == 503 and body["status"] == "not_ready"
    assert any("unreachable" in p for p in body["problems"])
    assert "request log writer is not healthy (log.required is on)" in body["problems"]


async def test_log_trouble_alone_keeps_the_instance_ready_unless_the_log_is_required():
    status, body = await readiness([], False, 7, 0, 0)
    assert status == 200 and body["log"] == {"healthy": False, "required": False, "queue_depth": 7}
    status, body = await readiness([], False, 7, 0, 0, log_required=True)
    assert status == 503


async def test_not_ready_while_shutting_down():
    status, body = await readiness([], True, 0, 2, 0, stopping=True)
    assert status == 503 and body["problems"][0].startswith("shutting down")


async def test_probe_results_are_cached():
    calls = []
    server = await asyncio.start_server(lambda r, w: (calls.append(1), w.close()), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    probe = UpstreamProbe(f"http://127.0.0.1:{port}", ttl=60)
    try:
        for _ in range(5):
            assert (await probe.check())[0]
        await asyncio.sleep(0.05)
    finally:
        server.close()
        await server.wait_closed()
    assert len(calls) == 1


def test_usage_survives_sampling_a_long_stream(fixtures_dir):
    from claude_proxy.proxy.protection.middleware import usage_sample

    stream = (fixtures_dir / "anthropic" / "anthropic-stream-tool-use.sse").read_bytes()
    events = stream.split(b"\n\n")
    padding = b"".join(events[1:-3]) * 200  # a long middle, as in a long answer
    long_stream = events[0] + b"\n\n" + padding + b"\n\n".join(events[-3:])
    sample = usage_sample(long_stream)
    assert len(sample) < 10_000
    assert extract_usage(sample) == extract_usage(stream)
