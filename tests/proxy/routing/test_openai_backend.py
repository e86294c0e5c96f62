"""The official SDK through the real proxy to an OpenAI-compatible backend: streams, errors, routing."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import anthropic
import pytest

from tests.proxy.translate.conftest import BACKEND_KEY
from tests.proxy.translate.sse_helpers import check_sequence, events
from tests.support.fake_anthropic import closed_port
from tests.support.recording_log import RecordingLog

MESSAGES = [{"role": "user", "content": "What's the weather in Edinburgh?"}]
CLIENT_KEY = "sk-ant-client-key-9999"
pytestmark = [pytest.mark.processes, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture
async def proxy_for(start_proxy):
    clients: list[anthropic.AsyncAnthropic] = []

    async def start(settings, log=None):
        server = await start_proxy(settings, log)
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key=CLIENT_KEY, max_retries=0)
        clients.append(client)
        return server, client

    yield start
    for client in clients:
        await client.close()


async def final(client, model: str, **kwargs):
    async with client.messages.stream(model=model, max_tokens=256, messages=MESSAGES, **kwargs) as stream:
        message = await stream.get_final_message()
        headers = stream.response.headers
    return message, headers


async def test_recorded_text_stream(proxy_for, routed_settings, fake_openai):
    _, client = await proxy_for(routed_settings())
    message, headers = await final(client, "recorded-text")
    assert message.content[0].text.startswith("I'm unable to provide real-time weather updates.")
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (14, 30)
    assert headers["x-claude-proxy-route"] == "fake/recorded-text"
    assert headers["x-claude-proxy-id"]
    sent = fake_openai.received[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["Authorization"] == f"Bearer {BACKEND_KEY}"
    assert CLIENT_KEY not in json.dumps(sent.headers)
    assert sent.headers["User-Agent"].startswith("claude-proxy/")  # some providers refuse requests without one
    assert sent.body["stream"] is True and sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["messages"] == MESSAGES


async def test_recorded_parallel_tool_calls(proxy_for, routed_settings):
    _, client = await proxy_for(routed_settings())
    message, _ = await final(client, "recorded-parallel")
    assert [(b.type, b.name, b.input) for b in message.content] == [
        ("tool_use", "GetWeatherArgs", {"city": "Edinburgh", "country": "GB", "units": "c"}),
        ("tool_use", "get_stock_price", {"ticker": "AAPL", "exchange": "NASDAQ"}),
    ]
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (149, 60)


async def test_recorded_single_tool_call(proxy_for, routed_settings):
    _, client = await proxy_for(routed_settings())
    message, _ = await final(client, "recorded-tool-call")
    (tool,) = message.content
    assert (tool.id, tool.name, tool.input) == ("call_c91SqDXlYFuETYv8mUHzz6pp", "GetWeatherArgs",
                                                {"city": "Edinburgh", "country": "UK", "units": "c"})


async def test_text_then_interleaved_tools(proxy_for, routed_settings):
    _, client = await proxy_for(routed_settings())
    message, _ = await final(client, "text-then-tools")
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use", "text"]
    assert message.content[1].input == {"file_path": "/tmp/a.py"}
    assert message.content[2].input == {"pattern": "def "}
    assert message.stop_reason == "tool_use"
    assert message.usage.cache_read_input_tokens == 100 and message.usage.input_tokens == 20


async def test_one_piece_arguments_without_usage_or_done(proxy_for, routed_settings):
    _, client = await proxy_for(routed_settings())
    message, _ = await final(client, "one-piece")
    assert [(b.name, b.input) for b in message.content] == [("Bash", {"command": "ls"}), ("Bash", {"command": "pwd"})]
    assert message.stop_reason == "tool_use"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


async def test_reasoning_arrives_as_thinking(proxy_for, routed_settings):
    _, client = await proxy_for(routed_settings(reasoning="effort"))
    message, _ = await final(client, "reasoning", thinking={"type": "enabled", "budget_tokens": 20000})
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[1].text == "27 × 453 = 12 231 — voilà 🎉"


async def test_thinking_request_option_reaches_the_provider(proxy_for, routed_settings, fake_openai):
    _, client = await proxy_for(routed_settings(reasoning="effort"))
    await final(client, "no-usage", thinking={"type": "enabled", "budget_tokens": 20000})
    assert fake_openai.received[-1].body["reasoning_effort"] == "high"


async def test_non_streaming_create(proxy_for, routed_settings):
    _, client = await proxy_for(routed_settings())
    raw = await client.messages.with_raw_response.create(model="recorded-tool-call", max_tokens=64, messages=MESSAGES)
    message = await raw.parse()
    assert raw.headers["x-claude-proxy-route"] == "fake/recorded-tool-call"
    assert message.id.startswith("msg_")
    assert message.content[0].input == {"city": "Edinburgh", "country": "UK", "units": "c"}
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (76, 24)


async def test_count_tokens_is_a_local_estimate(proxy_for, routed_settings, fake_openai):
    _, client = await proxy_for(routed_settings())
    raw = await client.messages.with_raw_response.count_tokens(
        model="anything", system="You are a scientist", messages=[{"role": "user", "content": "Hello, Claude"}])
    counted = await raw.parse()
    assert counted.input_tokens >= 14  # Anthropic's own count for this request, from its documentation
    assert raw.headers["x-claude-proxy-route"] == "fake/anything"
    assert fake_openai.received == []


async def test_models_list_the_routed_names(proxy_for, make_settings, fake_openai):
    settings = make_settings(
        backends={"fake": {"kind": "openai", "base_url": fake_openai.url}},
        routes={"big": {"backend": "fake", "model": "recorded-text"}, "small": {"backend": "fake"},
                "claude-3-5-haiku*": {"backend": "fake", "model": "x"}},
    )
    _, client = await proxy_for(settings)
    page = await client.models.list()
    assert [m.id for m in page.data] == ["big", "small"]
    assert page.data[0].type == "model" and "fake/recorded-text" in page.data[0].display_name
    one = await client.models.retrieve("claude-3-5-haiku-latest")
    assert one.id == "claude-3-5-haiku-latest" and "fake/x" in one.display_name
    message, headers = await final(client, "big")
    assert headers["x-claude-proxy-route"] == "fake/recorded-text"
    assert message.content[0].text.startswith("I'm unable")


async def test_rate_limit_keeps_retry_after(proxy_for, routed_settings):
    _, client = await proxy_for(routed_settings())
    with pytest.raises(anthropic.RateLimitError) as err:
        await final(client, "rate-limited")
    assert err.value.status_code == 429
    assert err.value.response.headers["retry-after"] == "7"
    assert err.value.body["error"]["type"] == "rate_limit_error"
    assert "Rate limit reached" in err.value.body["error"]["message"]
    assert err.value.response.headers["x-claude-proxy-route"] == "fake/rate-limited"


async def test_auth_and_server_errors_are_mapped(proxy_for, routed_settings):
    _, client = await proxy_for(routed_settings())
    with pytest.raises(anthropic.AuthenticationError):
        await client.messages.create(model="unauthorized", max_tokens=5, messages=MESSAGES)
    with pytest.raises(anthropic.InternalServerError) as err:
        await final(client, "server-error")
    assert err.value.body["error"]["type"] == "api_error"


async def test_unreachable_backend_is_a_502(proxy_for, make_settings):
    settings = make_settings(backends={"gone": {"kind": "openai", "base_url": f"http://127.0.0.1:{closed_port()}/v1"}},
                             routes={"default": {"backend": "gone"}})
    _, client = await proxy_for(settings)
    with pytest.raises(anthropic.InternalServerError) as err:
        await final(client, "m")
    assert err.value.status_code == 502
    assert "cannot reach gone" in err.value.body["error"]["message"]


async def test_mid_stream_failure_is_one_error_event(start_proxy, routed_settings):
    log = RecordingLog()
    server = await start_proxy(routed_settings(), log)
    body = {"model": "midstream-fail", "max_tokens": 50, "stream": True, "messages": MESSAGES}
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "/v1/messages", json=body) as resp:
            assert resp.status == 200
            data = await resp.read()
    evs = events(data)
    names = [n for n, _ in evs]
    assert names[0] == "message_start" and names[-1] == "error"
    assert names.count("error") == 1 and "message_stop" not in names
    assert "Half an ans" in data.decode()
    (entry,) = await log.wait_for(1)
    assert entry.route == "fake/midstream-fail" and "broke off" in entry.error


async def test_sdk_raises_on_mid_stream_failure(proxy_for, routed_settings):
    _, client = await proxy_for(routed_settings())
    with pytest.raises(anthropic.APIStatusError) as err:
        await final(client, "midstream-fail")
    assert "broke off" in str(err.value)


async def test_pings_during_upstream_silence(start_proxy, routed_settings, fake_openai):
    fake_openai.silence = 0.6
    server = await start_proxy(routed_settings(ping_interval=0.05))
    body = {"model": "slow", "max_tokens": 50, "stream": True, "messages": MESSAGES}
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "/v1/messages", json=body) as resp:
            data = await resp.read()
    evs = events(data)
    check_sequence(evs)
    names = [n for n, _ in evs]
    assert names[0] == "message_start" and names[1] == "ping"
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]


async def test_the_log_row_carries_the_route(start_proxy, routed_settings):
    log = RecordingLog()
    server = await start_proxy(routed_settings(routes={"big": {"backend": "fake", "model": "recorded-text"}}), log)
    client = anthropic.AsyncAnthropic(base_url=server.url, api_key=CLIENT_KEY, max_retries=0)
    try:
        await final(client, "big")
    finally:
        await client.close()
    (entry,) = await log.wait_for(1)
    assert (entry.route, entry.requested_model, entry.upstream_model) == ("fake/recorded-text", "big", "recorded-text")
    assert entry.status == 200 and entry.stream is True
    assert b"message_stop" in entry.response_body and b"[DONE]" not in entry.response_body


async def test_errors_inside_a_200_answer(proxy_for, routed_settings):
    _, client = await proxy_for(routed_settings())
    with pytest.raises(anthropic.RateLimitError) as err:
        await client.messages.create(model="error-in-200", max_tokens=5, messages=MESSAGES)
    assert "Provider returned error" in err.value.body["error"]["message"]
    with pytest.raises(anthropic.APIStatusError) as err:
        await final(client, "error-in-200")
    assert "rate_limit_error" in str(err.value)


async def test_upstream_silence_past_the_timeout_ends_with_a_timeout_error(start_proxy, routed_settings, fake_openai):
    log = RecordingLog()
    server = await start_proxy(routed_settings(ping_interval=0.05, timeout=0.3), log)
    body = {"model": "hang", "max_tokens": 50, "stream": True, "messages": MESSAGES}
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "/v1/messages", json=body) as resp:
            data = await resp.read()
    evs = events(data)
    assert evs[0][0] == "message_start" and evs[1][0] == "ping"
    assert evs[-1][0] == "error" and evs[-1][1]["error"]["type"] == "timeout_error"
    (entry,) = await log.wait_for(1)
    assert "went silent" in entry.error
    assert entry.request_headers["authorization"] == "****5678"


async def test_client_disconnect_cancels_the_backend_request(start_proxy, routed_settings, fake_openai):
    server = await start_proxy(routed_settings(ping_interval=0.05))
    body = {"model": "hang", "max_tokens": 50, "stream": True, "messages": MESSAGES}
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "/v1/messages", json=body) as resp:
            assert (await resp.content.readuntil(b"\n\n")).startswith(b"event: message_start")
    await asyncio.wait_for(fake_openai.cancelled.wait(), timeout=10)


async def test_a_routed_stream_lands_in_the_sqlite_log(start_proxy, routed_settings, tmp_path):
    from claude_proxy.requestlog.query import get_entry, open_log
    from claude_proxy.requestlog.writer import SqliteRequestLog

    db = tmp_path / "requests.db"
    server = await start_proxy(routed_settings(), SqliteRequestLog(db))
    client = anthropic.AsyncAnthropic(base_url=server.url, api_key=CLIENT_KEY, max_retries=0)
    try:
        async with client.messages.stream(model="recorded-parallel", max_tokens=64, messages=MESSAGES) as stream:
            await stream.get_final_message()
            proxy_id = stream.response.headers["x-claude-proxy-id"]
    finally:
        await client.close()
    await server.stop()  # drains the log
    row = get_entry(open_log(db), proxy_id)
    assert row["route"] == "fake/recorded-parallel" and row["upstream_model"] == "recorded-parallel"
    assert (row["input_tokens"], row["output_tokens"], row["stop_reason"]) == (149, 60, "tool_use")
    dumped = json.dumps(row, default=lambda value: value.hex() if isinstance(value, bytes) else str(value))
    assert BACKEND_KEY not in dumped and CLIENT_KEY not in dumped


async def test_an_in_band_error_before_any_output_gets_its_status(proxy_for, routed_settings):
    _, client = await proxy_for(routed_settings())
    with pytest.raises(anthropic.InternalServerError) as err:
        await final(client, "error-first")
    assert err.value.status_code == 503
    assert "Upstream overloaded" in err.value.body["error"]["message"]


async def test_a_claude_code_request_through_the_sdk_reaches_the_provider_whole(
        proxy_for, routed_settings, fake_openai):
    from tests.proxy.translate import claude_code

    _, client = await proxy_for(routed_settings(routes={"default": {"backend": "fake", "model": "text-then-tools"}},
                                                reasoning="effort"))
    body = claude_code.request()
    del body["stream"]
    extra = {"temperature": body.pop("temperature")}  # sent as Claude Code sends it, whatever this SDK version takes
    async with client.messages.stream(**body, extra_body=extra) as stream:
        message = await stream.get_final_message()
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use", "text"]
    sent = fake_openai.received[-1].body
    assert sent["model"] == "text-then-tools"
    assert [t["function"]["name"] for t in sent["tools"]] == claude_code.TOOL_NAMES
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "tool", "tool", "user", "system"]
    assert sent["messages"][0]["content"].startswith("You are Claude Code")
    assert sent["reasoning_effort"] == "medium" and sent["max_tokens"] == 32000 and sent["temperature"] == 1
    assert "cache_control" not in json.dumps(sent) and "$schema" not in json.dumps(sent)


async def test_claude_proxy_serve_routes_to_an_openai_backend(serve_process, fake_openai, tmp_path):
    from claude_proxy.requestlog.query import get_entry, open_log

    db = tmp_path / "serve.db"
    config = {
        "log": {"path": str(db)},
        "backends": {"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": BACKEND_KEY}},
        "routes": {"big": {"backend": "fake", "model": "text-then-tools"}},
    }
    proc = await serve_process(config=config)
    assert any(b"routes: big -> fake/text-then-tools" in line for line in proc.lines)
    client = anthropic.AsyncAnthropic(base_url=proc.url, api_key=CLIENT_KEY, max_retries=0)
    try:
        async with client.messages.stream(model="big", max_tokens=64, messages=MESSAGES) as stream:
            message = await stream.get_final_message()
            proxy_id = stream.response.headers["x-claude-proxy-id"]
    finally:
        await client.close()
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use", "text"]
    assert await proc.stop() == 0
    row = get_entry(open_log(db), proxy_id)
    assert row["route"] == "fake/text-then-tools" and row["stop_reason"] == "tool_use"


async def test_a_malformed_request_is_a_400_not_a_crash(start_proxy, routed_settings):
    server = await start_proxy(routed_settings())
    bad = {"model": "x", "max_tokens": 5, "messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "name": "Read", "input": {}}]}]}
    async with aiohttp.ClientSession() as session:
        bad_count = {"model": "x", "system": 5, "messages": []}
        for path, body in [("/v1/messages", bad), ("/v1/messages/count_tokens", bad_count)]:
            async with session.post(server.url + path, json=body) as resp:
                assert resp.status == 400, path
                error = (await resp.json())["error"]
                assert error["type"] == "invalid_request_error"


async def test_a_provider_that_ignores_stream_still_gives_a_stream(proxy_for, routed_settings):
    _, client = await proxy_for(routed_settings())
    message, headers = await final(client, "ignores-stream")
    assert headers["content-type"].startswith("text/event-stream")
    assert message.content[0].input == {"city": "Edinburgh", "country": "UK", "units": "c"}
    assert message.stop_reason == "tool_use" and message.usage.output_tokens == 24


async def test_a_backend_that_never_answers_is_a_504_timeout_error(proxy_for, routed_settings):
    _, client = await proxy_for(routed_settings(timeout=0.3))
    with pytest.raises(anthropic.InternalServerError) as err:
        await final(client, "no-headers")
    assert err.value.status_code == 504
    assert err.value.body["error"]["type"] == "timeout_error"
