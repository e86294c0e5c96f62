"""The lean Messages client against the fake Anthropic servers, side by side with the official SDK.

The SDK is the reference: the same call through both must send the same headers, and the
same recorded stream must add up to the same final message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import pytest

from claude_proxy.chat.api import errors
from claude_proxy.chat.api.client import MessagesClient
from claude_proxy.chat.client import describe_api_error, make_client, resolve_config
from claude_proxy.settings import parse_settings
from tests.support.fake_anthropic import FakeAnthropic, Reply, closed_port
from tests.support.scripted_anthropic import ErrorReply, ScriptedAnthropic, thinking, tool_use
from tests.support.scripted_anthropic import Reply as Scripted

PARAMS: dict[str, Any] = {"model": "claude-test", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
# where the lean client says who it is instead of the SDK
OWN_VALUES = {"user-agent", "x-stainless-package-version"}
TRANSPORT = {"host", "content-length", "accept-encoding", "connection"}


@pytest.fixture
def fake() -> Any:
    with ScriptedAnthropic() as server:
        yield server


def _lean(fake: ScriptedAnthropic, **kwargs: Any) -> MessagesClient:
    return MessagesClient(base_url=fake.url, **{"api_key": "sk-ant-test", "max_retries": 0, **kwargs})


async def _stream_text(client: Any) -> str:
    async with client.messages.stream(**PARAMS) as stream:
        message = await stream.get_final_message()
    content = message["content"] if isinstance(message, dict) else [b.model_dump() for b in message.content]
    return "".join(b.get("text", "") for b in content)


@pytest.mark.parametrize("credentials", [{"api_key": "sk-ant-test"}, {"auth_token": "bearer-token"}])
async def test_headers_are_the_sdks_for_a_stream_and_a_create(fake: ScriptedAnthropic,
                                                              credentials: dict[str, str]) -> None:
    fake.script(*[Scripted("ok") for _ in range(4)])
    sdk = anthropic.AsyncAnthropic(base_url=fake.url, max_retries=0, timeout=600.0, **credentials)
    lean = MessagesClient(base_url=fake.url, max_retries=0, timeout=600.0, **credentials)
    for client in (sdk, lean):
        assert await _stream_text(client) == "ok"
        await client.messages.create(**PARAMS)
        await client.close()
    sdk_stream, sdk_create, lean_stream, lean_create = fake.headers
    for theirs, ours in ((sdk_stream, lean_stream), (sdk_create, lean_create)):
        assert set(ours) - TRANSPORT == set(theirs) - TRANSPORT
        assert {k: v for k, v in ours.items() if k not in TRANSPORT | OWN_VALUES} == \
               {k: v for k, v in theirs.items() if k not in TRANSPORT | OWN_VALUES}
    assert lean_stream["authorization"] == f"Bearer {next(iter(credentials.values()))}"
    assert lean_stream["x-stainless-helper-method"] == "stream" and "x-stainless-helper-method" not in lean_create
    assert lean_stream["user-agent"].startswith("ClaudeProxyChat/Python ")
    assert fake.requests[2] == {**PARAMS, "stream": True} and fake.requests[3] == PARAMS


async def test_betas_go_out_as_anthropic_beta(fake: ScriptedAnthropic) -> None:
    fake.script(Scripted("ok"))
    client = _lean(fake, betas=["context-1m-2025-08-07", "fine-grained-tool-streaming-2025-05-14"])
    await client.messages.create(**PARAMS)
    await client.close()
    assert fake.headers[0]["anthropic-beta"] == "context-1m-2025-08-07,fine-grained-tool-streaming-2025-05-14"


async def test_529_and_429_are_retried_after_the_wait_the_server_asks_for(fake: ScriptedAnthropic) -> None:
    fake.script(ErrorReply(529, "overloaded_error", "Overloaded", headers={"retry-after-ms": "30"}),
                ErrorReply(429, "rate_limit_error", "slow down", headers={"retry-after": "0.05"}),
                Scripted("finally"))
    heard: list[tuple[int | None, float]] = []
    client = _lean(fake, max_retries=2, on_retry=lambda status, delay: heard.append((status, delay)))
    assert await _stream_text(client) == "finally"
    await client.close()
    assert heard == [(529, 0.03), (429, 0.05)]
    assert [h["x-stainless-retry-count"] for h in fake.headers] == ["0", "1", "2"]


async def test_the_progress_line_hears_each_retry_with_its_reason(fake: ScriptedAnthropic) -> None:
    fake.script(ErrorReply(503, "api_error", "busy"), Scripted("ok"))
    config = resolve_config(parse_settings({"chat": {"base_url": fake.url, "api_key": "k", "max_retries": 1}}),
                            env={})
    heard: list[tuple[str, float]] = []
    client = make_client(config, on_retry=lambda reason, delay: heard.append((reason, delay)))
    assert await _stream_text(client) == "ok"
    await client.close()
    (reason, delay), = heard
    assert reason == "503 unavailable" and 0.375 <= delay <= 0.5  # 0.5 s less up to a quarter of jitter


async def test_retries_run_out_into_the_sdks_error_type_and_a_clear_line(fake: ScriptedAnthropic) -> None:
    fake.script(*[ErrorReply(529, "overloaded_error", "Overloaded", headers={"retry-after-ms": "1"})] * 3)
    client = _lean(fake, max_retries=2)
    with pytest.raises(errors.OverloadedError) as caught:
        await _stream_text(client)
    await client.close()
    assert len(fake.requests) == 3
    assert caught.value.status_code == 529 and caught.value.request_id is None
    assert describe_api_error(caught.value) == "API error 529: the API is overloaded: try again shortly (Overloaded)"


@pytest.mark.parametrize("status, kind, error_type, line", [
    (401, "authentication_error", errors.AuthenticationError, "API error 401: authentication failed"),
    (403, "permission_error", errors.PermissionDeniedError, "API error 403: permission denied"),
    (404, "not_found_error", errors.NotFoundError, "API error 404: not found (is the model name right?)"),
    (400, "invalid_request_error", errors.BadRequestError, "API error 400: request rejected"),
])
async def test_client_errors_are_not_retried(fake: ScriptedAnthropic, status: int, kind: str, error_type: type,
                                             line: str) -> None:
    fake.script(ErrorReply(status, kind, "nope"), Scripted("never"))
    client = _lean(fake, max_retries=2)
    with pytest.raises(error_type) as caught:
        await client.messages.create(**PARAMS)
    await client.close()
    assert len(fake.requests) == 1
    assert describe_api_error(caught.value).startswith(line) and "(nope)" in describe_api_error(caught.value)
    assert str(caught.value) == f"Error code: {status} - {{'type': 'error', 'error': {{'type': '{kind}', " \
                                "'message': 'nope'}}"


async def test_x_should_retry_decides_before_the_status(fake: ScriptedAnthropic) -> None:
    fake.script(ErrorReply(500, "api_error", "no", headers={"x-should-retry": "false"}),
                ErrorReply(400, "invalid_request_error", "again", headers={"x-should-retry": "true",
                                                                          "retry-after-ms": "1"}),
                Scripted("ok"))
    client = _lean(fake, max_retries=2)
    with pytest.raises(errors.InternalServerError):
        await client.messages.create(**PARAMS)
    assert await _stream_text(client) == "ok"
    await client.close()
    assert [h["x-stainless-retry-count"] for h in fake.headers] == ["0", "0", "1"]


async def test_an_error_event_mid_stream_stops_the_reply_after_what_was_shown(fake: ScriptedAnthropic) -> None:
    fake.script(Scripted("shown first", "never shown", error_after=1))
    client = _lean(fake, max_retries=2)
    seen: list[str] = []
    with pytest.raises(errors.OverloadedError) as caught:
        async with client.messages.stream(**PARAMS) as stream:
            async for event in stream:
                if event.type == "text":
                    seen.append(event.text)
    await client.close()
    assert "".join(seen) == "shown first"
    assert len(fake.requests) == 1  # a stream that has begun is not retried, as in the SDK
    assert caught.value.status_code == 200
    assert describe_api_error(caught.value) == "API error 529: the API is overloaded: try again shortly (Overloaded)"


async def test_a_connection_error_names_the_url_after_its_retries() -> None:
    port = closed_port()
    heard: list[tuple[int | None, float]] = []
    client = MessagesClient(base_url=f"http://127.0.0.1:{port}", api_key="k", max_retries=1,
                            on_retry=lambda status, delay: heard.append((status, delay)))
    with pytest.raises(errors.APIConnectionError) as caught:
        await _stream_text(client)
    await client.close()
    assert [status for status, _ in heard] == [None]
    line = describe_api_error(caught.value)
    assert line.startswith(f"API error: cannot connect to http://127.0.0.1:{port}/v1/messages (")


async def test_no_credentials_for_anthropics_own_api_is_refused_before_any_request() -> None:
    from claude_proxy.chat.client import MissingCredentials

    config = resolve_config(parse_settings({}), env={})
    with pytest.raises(MissingCredentials):
        make_client(config)


async def test_a_gateway_without_credentials_gets_no_authorization_header(fake: ScriptedAnthropic) -> None:
    fake.script(Scripted("ok"))
    config = resolve_config(parse_settings({"chat": {"base_url": fake.url}}), env={})
    client = make_client(config)
    assert await _stream_text(client) == "ok"
    await client.close()
    assert "authorization" not in fake.headers[0] and "x-api-key" not in fake.headers[0]


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


# the SDK itself cannot read the extended-thinking recording (no usage on its message_delta) nor the
# abbreviated web-search one (elided JSON)
STREAMS = ["anthropic-stream-basic-text.sse", "anthropic-stream-tool-use.sse", "sdk-fixture-tool-use-response.sse",
           "sdk-fixture-refusal-response.sse", "sdk-fixture-max-tokens-partial-json.sse"]


@pytest.mark.parametrize("name", STREAMS)
async def test_a_recorded_stream_adds_up_to_the_sdks_final_message(fixtures_dir: Path, name: str) -> None:
    async with FakeAnthropic(fixtures_dir / "anthropic") as server:
        server.enqueue(Reply.fixture(name), Reply.fixture(name))
        sdk = anthropic.AsyncAnthropic(base_url=server.url, api_key="k", max_retries=0)
        async with sdk.messages.stream(**PARAMS) as stream:
            theirs = (await stream.get_final_message()).model_dump(mode="json", exclude_none=True)
        await sdk.close()
        lean = MessagesClient(base_url=server.url, api_key="k", max_retries=0)
        texts: list[str] = []
        async with lean.messages.stream(**PARAMS) as ours_stream:
            async for event in ours_stream:
                if event.type == "text":
                    texts.append(event.text)
            ours = await ours_stream.get_final_message()
        await lean.close()
    assert _without_none(ours) == theirs
    assert "".join(texts) == "".join(b.get("text", "") for b in ours["content"] if b["type"] == "text")
    assert json.loads(json.dumps(ours)) == ours


async def test_thinking_and_tool_use_stream_into_the_same_blocks_as_the_sdk(fake: ScriptedAnthropic) -> None:
    call = tool_use("Bash", {"command": "ls -la", "description": "list"})
    blocks = (thinking("first the files", "sig-1"), "Let me look.", call)
    fake.script(Scripted(*blocks), Scripted(*blocks))
    sdk = anthropic.AsyncAnthropic(base_url=fake.url, api_key="k", max_retries=0)
    async with sdk.messages.stream(**PARAMS) as stream:
        theirs = (await stream.get_final_message()).model_dump(mode="json", exclude_none=True)
    await sdk.close()
    lean = _lean(fake)
    async with lean.messages.stream(**PARAMS) as stream:
        ours = await stream.get_final_message()
    await lean.close()
    assert _without_none(ours) == {**theirs, "id": ours["id"]}
    assert ours["content"][0] == blocks[0] and ours["content"][2] == call and ours["stop_reason"] == "tool_use"
