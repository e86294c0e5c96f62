"""The official anthropic SDK, pointed at the proxy, behaves as if it talked to the API."""

from __future__ import annotations

import anthropic
import pytest

from tests.support.fake_anthropic import FakeAnthropic, Reply, split_events

MESSAGES = [{"role": "user", "content": "Hello"}]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # model names in the fixtures


@pytest.fixture
async def client(proxy):
    sdk = anthropic.AsyncAnthropic(base_url=proxy.url, api_key="sk-ant-test-key-abcd", max_retries=0)
    yield sdk
    await sdk.close()


async def test_messages_create(client, fake_upstream: FakeAnthropic):
    message = await client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES)
    assert message.content[0].text == "Hello!"
    assert message.usage.input_tokens == 12 and message.usage.output_tokens == 6
    assert message.stop_reason == "end_turn"
    sent = fake_upstream.received[-1]
    # Whatever credentials header this SDK version uses arrives unchanged.
    credentials = sent.headers.get("x-api-key") or sent.headers["authorization"]
    assert credentials.endswith("sk-ant-test-key-abcd")
    assert sent.headers["anthropic-version"] == client.default_headers["anthropic-version"]
    assert sent.json()["messages"] == MESSAGES


async def test_messages_create_raw_response_carries_the_proxy_id(client):
    raw = await client.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES)
    assert raw.headers["request-id"] == "req_fake0123456789"
    assert raw.headers["x-claude-proxy-id"]
    assert (await raw.parse()).content[0].text == "Hello!"


async def test_stream_text(client):
    async with client.messages.stream(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES) as stream:
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(texts) == "Hello!"
    assert final.content[0].text == "Hello!"
    assert final.usage.output_tokens == 15 and final.stop_reason == "end_turn"


async def test_stream_tool_use(client, fake_upstream):
    fake_upstream.enqueue(Reply.fixture("anthropic-stream-tool-use.sse"))
    async with client.messages.stream(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES) as stream:
        final = await stream.get_final_message()
    tool = [block for block in final.content if block.type == "tool_use"][0]
    assert tool.name == "get_weather"
    assert tool.input == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert final.stop_reason == "tool_use"


def _thinking_stream(fixtures_dir) -> list[bytes]:
    """The documented thinking stream carries no usage, which the SDK needs; borrow the
    message_start / message_delta events of the basic stream around its thinking blocks."""
    folder = fixtures_dir / "anthropic"
    basic = split_events((folder / "anthropic-stream-basic-text.sse").read_bytes())
    thinking = split_events((folder / "anthropic-stream-extended-thinking.sse").read_bytes())
    start = [e for e in basic if e.startswith(b"event: message_start")]
    delta = [e for e in basic if e.startswith(b"event: message_delta")]
    blocks = [e for e in thinking if e.startswith(b"event: content_block")]
    return start + blocks + delta + [b'event: message_stop\ndata: {"type": "message_stop"}\n\n']


async def test_stream_thinking_keeps_the_signature(client, fake_upstream, fixtures_dir):
    fake_upstream.enqueue(Reply.sse(_thinking_stream(fixtures_dir)))
    async with client.messages.stream(model="claude-sonnet-4-5", max_tokens=2048, messages=MESSAGES,
                                      thinking={"type": "enabled", "budget_tokens": 1024}) as stream:
        final = await stream.get_final_message()
    thinking, text = final.content
    assert thinking.type == "thinking"
    assert thinking.thinking.startswith("Let me solve this step by step")
    assert thinking.signature == "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds..."
    assert text.text == "27 * 453 = 12,231"
    assert fake_upstream.received[-1].json()["thinking"] == {"type": "enabled", "budget_tokens": 1024}


async def test_count_tokens(client, fake_upstream):
    count = await client.messages.count_tokens(model="claude-sonnet-4-5", messages=MESSAGES)
    assert count.input_tokens == 14
    assert fake_upstream.received[-1].path_qs == "/v1/messages/count_tokens"


async def test_models_list_and_get(client):
    page = await client.models.list()
    assert [m.id for m in page.data] == ["claude-sonnet-4-20250514"]
    model = await client.models.retrieve("claude-sonnet-4-20250514")
    assert model.display_name == "Claude Sonnet 4"


async def test_beta_messages_carry_the_beta_header(client, fake_upstream):
    await client.beta.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES,
                                      betas=["token-efficient-tools-2025-02-19"])
    sent = fake_upstream.received[-1]
    assert sent.path_qs.startswith("/v1/messages")
    assert sent.headers["anthropic-beta"] == "token-efficient-tools-2025-02-19"


async def test_429_is_a_rate_limit_error_with_retry_after(client, fake_upstream):
    fake_upstream.enqueue(Reply.json({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
                                     status=429, headers={"retry-after": "17"}))
    with pytest.raises(anthropic.RateLimitError) as info:
        await client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES)
    assert info.value.response.headers["retry-after"] == "17"
    assert info.value.body["error"]["message"] == "slow down"
    assert len(fake_upstream.received) == 1


async def test_529_is_an_overloaded_error_with_retry_after(client, fake_upstream, fixtures_dir):
    body = (fixtures_dir / "anthropic" / "anthropic-error-overloaded.json").read_bytes()
    headers = {"content-type": "application/json", "retry-after": "30"}
    fake_upstream.enqueue(Reply.raw(body, status=529, headers=headers))
    with pytest.raises(anthropic.InternalServerError) as info:
        await client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES)
    if hasattr(anthropic, "OverloadedError"):
        assert isinstance(info.value, anthropic.OverloadedError)
    assert info.value.status_code == 529
    assert info.value.response.headers["retry-after"] == "30"


async def test_mid_stream_death_surfaces_as_an_sdk_error(client, fake_upstream, fixtures_dir):
    events = split_events((fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes())
    fake_upstream.enqueue(Reply.sse(events[:4], then="die"))
    texts: list[str] = []
    with pytest.raises(anthropic.APIStatusError, match="middle of the response"):
        async with client.messages.stream(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES) as stream:
            async for text in stream.text_stream:
                texts.append(text)
    assert texts == ["Hello"]


async def test_proxy_errors_parse_as_sdk_errors(start_proxy, make_settings):
    from tests.support.fake_anthropic import closed_port

    server = await start_proxy(make_settings(upstream={"base_url": f"http://127.0.0.1:{closed_port()}"}))
    async with anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=0) as sdk:
        with pytest.raises(anthropic.APIStatusError) as info:
            await sdk.messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=MESSAGES)
    assert info.value.status_code == 502
    assert info.value.body["error"]["type"] == "api_error"
