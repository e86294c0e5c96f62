"""The last Chat Completions gaps, end to end: the official SDK -> a real `claude-proxy serve` -> a
scripted OpenAI-compatible backend on 127.0.0.1, each case streamed and not."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import pytest

from tests.proxy.translate.sse_helpers import events
from tests.support.proxy_process import ServeProcess
from tests.support.scripted_openai import DONE, Script, ScriptedOpenAI, chunk, completion

pytestmark = [pytest.mark.processes, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ASK = [{"role": "user", "content": "Go."}]
VALID_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class Proxy:
    proc: ServeProcess
    client: anthropic.AsyncAnthropic
    db: Path

    async def row(self, proxy_id: str) -> dict[str, Any]:
        """The request-log row of one exchange (stops serve first, so the log is drained)."""
        from claude_proxy.requestlog.query import get_entry, open_log

        await self.client.close()
        assert await self.proc.stop() == 0
        return get_entry(open_log(self.db), proxy_id)


@pytest.fixture
async def backend():
    server = await ScriptedOpenAI().start()
    yield server
    await server.close()


@pytest.fixture
async def proxy(serve_process, backend: ScriptedOpenAI, tmp_path: Path):
    clients: list[anthropic.AsyncAnthropic] = []

    async def start(**options: Any) -> Proxy:
        db = tmp_path / "requests.db"
        proc = await serve_process(config={
            "log": {"path": str(db)},
            "backends": {"scripted": {"kind": "openai", "base_url": backend.url, "api_key": "sk-scripted-0000",
                                      **options}},
            "routes": {"default": {"backend": "scripted"}},
        })
        client = anthropic.AsyncAnthropic(base_url=proc.url, api_key="sk-ant-client-1111", max_retries=0)
        clients.append(client)
        return Proxy(proc, client, db)

    yield start
    for client in clients:
        await client.close()


async def streamed(client: anthropic.AsyncAnthropic, model: str, **kwargs: Any) -> anthropic.types.Message:
    kwargs.setdefault("messages", ASK)
    async with client.messages.stream(model=model, max_tokens=256, **kwargs) as stream:
        return await stream.get_final_message()


async def created(client: anthropic.AsyncAnthropic, model: str, **kwargs: Any) -> anthropic.types.Message:
    kwargs.setdefault("messages", ASK)
    return await client.messages.create(model=model, max_tokens=256, **kwargs)


# mid-stream errors -----------------------------------------------------------------------

PROVIDER_ERROR = {"code": 502, "message": "Provider disconnected unexpectedly",
                  "metadata": {"provider_name": "Example", "raw": "upstream reset"}}


def openrouter_error(error: dict[str, Any] | None) -> Script:
    """OpenRouter's shape: some text, then a chunk with the error beside choices and finish_reason "error"."""
    extra = {"error": error} if error else {}
    return Script(stream=[chunk({"role": "assistant", "content": "The answer is "}), chunk({"content": "forty"}),
                          chunk({"content": ""}, finish="error", **extra), DONE],
                  answer=completion({"content": "The answer is forty"}, finish="error", **extra))


async def test_an_error_beside_choices_ends_the_stream_as_an_error(proxy, backend):
    backend.play("or-error", openrouter_error(PROVIDER_ERROR))
    backend.play("or-limited", openrouter_error({"code": "rate_limit_exceeded", "message": "Slow down"}))
    backend.play("or-finish", openrouter_error(None))
    running = await proxy()
    with pytest.raises(anthropic.APIStatusError) as err:
        await streamed(running.client, "or-error")
    assert err.value.body["error"] == {"type": "api_error",
                                       "message": "upstream error: Provider disconnected unexpectedly"}
    proxy_id = err.value.response.headers["x-claude-proxy-id"]
    with pytest.raises(anthropic.APIStatusError) as err:
        await streamed(running.client, "or-limited")
    assert err.value.body["error"]["type"] == "rate_limit_error"
    with pytest.raises(anthropic.APIStatusError) as err:
        await streamed(running.client, "or-finish")
    assert err.value.body["error"]["type"] == "api_error" and "finish_reason" in err.value.body["error"]["message"]

    async with aiohttp.ClientSession() as session:  # the wire: the text so far, one error frame, no message_stop
        body = {"model": "or-error", "max_tokens": 50, "stream": True, "messages": ASK}
        async with session.post(running.proc.url + "/v1/messages", json=body) as resp:
            assert resp.status == 200
            evs = events(await resp.read())
    names = [n for n, _ in evs]
    assert names[-1] == "error" and names.count("error") == 1 and "message_stop" not in names
    assert "".join(p["delta"]["text"] for n, p in evs if n == "content_block_delta") == "The answer is forty"

    row = await running.row(proxy_id)
    assert row["status"] == 200
    assert "Provider disconnected unexpectedly" in row["error"] and '"provider_name":"Example"' in row["error"]


async def test_an_error_beside_choices_in_a_whole_answer_is_an_error_response(proxy, backend):
    backend.play("or-error", openrouter_error(PROVIDER_ERROR))
    backend.play("or-limited", openrouter_error({"code": "rate_limit_exceeded", "message": "Slow down"}))
    backend.play("or-finish", openrouter_error(None))
    running = await proxy()
    with pytest.raises(anthropic.APIStatusError) as err:
        await created(running.client, "or-error")
    assert err.value.status_code == 502 and err.value.body["error"]["type"] == "api_error"
    assert "Provider disconnected unexpectedly" in err.value.body["error"]["message"]
    proxy_id = err.value.response.headers["x-claude-proxy-id"]
    with pytest.raises(anthropic.RateLimitError):
        await created(running.client, "or-limited")
    with pytest.raises(anthropic.APIStatusError) as err:
        await created(running.client, "or-finish")
    assert err.value.status_code == 502
    row = await running.row(proxy_id)
    assert row["status"] == 502 and '"provider_name":"Example"' in row["error"]


# late tool names -------------------------------------------------------------------------

def late_name() -> Script:
    """The call id and the first arguments come before the function's name."""
    call: dict[str, Any] = {"index": 0, "id": "call_late", "type": "function", "function": {"arguments": '{"file_'}}
    return Script(stream=[
        chunk({"role": "assistant", "content": "Reading it."}),
        chunk({"tool_calls": [call]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'path": "/tmp/a.py"'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"name": "Read", "arguments": "}"}}]}),
        chunk(finish="tool_calls"), DONE,
    ], answer=completion({"content": "Reading it.", "tool_calls": [{
        "id": "call_late", "type": "function",
        "function": {"name": "Read", "arguments": '{"file_path": "/tmp/a.py"}'}}]}, finish="tool_calls"))


async def test_a_late_tool_name_still_starts_the_block_with_its_name(proxy, backend):
    backend.play("late", late_name())
    running = await proxy()
    async with running.client.messages.stream(model="late", max_tokens=64, messages=ASK) as stream:
        starts = [e.content_block for e in [event async for event in stream] if e.type == "content_block_start"]
        message = await stream.get_final_message()
    assert [(b.type, getattr(b, "name", None)) for b in starts] == [("text", None), ("tool_use", "Read")]
    assert [b.type for b in message.content] == ["text", "tool_use"]
    tool = message.content[1]
    assert (tool.id, tool.name, tool.input) == ("call_late", "Read", {"file_path": "/tmp/a.py"})
    assert message.stop_reason == "tool_use"
    whole = await created(running.client, "late")  # the same call, answered whole
    assert [(b.type, getattr(b, "name", None)) for b in whole.content] == [("text", None), ("tool_use", "Read")]
    assert whole.content[1].input == tool.input


# custom-content documents and strict ------------------------------------------------------

DOCUMENT = {"type": "document", "title": "Release notes", "context": "Internal draft",
            "source": {"type": "content", "content": [{"type": "text", "text": "Version 2 adds routing."},
                                                      {"type": "text", "text": "Version 3 adds limits."}]}}
STRICT_TOOL = {"name": "get_weather", "description": "Weather for a city", "strict": True,
               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                                "additionalProperties": False}}


async def test_custom_content_documents_and_strict_reach_the_backend(proxy, backend):
    plain = Script(stream=[chunk({"role": "assistant", "content": "Routing and limits."}), chunk(finish="stop"), DONE],
                   answer=completion({"content": "Routing and limits."}))
    backend.play("plain", plain)
    running = await proxy()
    ask = [{"role": "user", "content": [DOCUMENT, {"type": "text", "text": "What changed?"}]}]
    for send in (streamed, created):
        message = await send(running.client, "plain", messages=ask, tools=[STRICT_TOOL])
        assert message.content[0].text == "Routing and limits." and message.stop_reason == "end_turn"
        sent = backend.requests[-1]
        assert sent["messages"][0]["content"] == [
            {"type": "text", "text": "Document: Release notes\nContext: Internal draft"},
            {"type": "text", "text": "Version 2 adds routing."},
            {"type": "text", "text": "Version 3 adds limits."},
            {"type": "text", "text": "What changed?"},
        ]
        assert sent["tools"][0]["function"]["strict"] is True
        assert sent["tools"][0]["function"]["parameters"]["additionalProperties"] is False
    assert [bool(r.get("stream")) for r in backend.requests] == [True, False]


# long and odd tool names -----------------------------------------------------------------

LONG = "mcp__knowledge_base_server__search_every_document_in_the_workspace_by_meaning"
DOTTED = "mcp__files.example.com__read:file"


def answer_with_the_alias(body: dict[str, Any]) -> Script:
    """The model calls the long-named tool by the name it was given (whatever the proxy made of it)."""
    alias = body["tools"][0]["function"]["name"]
    call = {"index": 0, "id": "call_alias", "type": "function", "function": {"name": alias, "arguments": "{}"}}
    return Script(stream=[chunk({"role": "assistant", "tool_calls": [call]}), chunk(finish="tool_calls"), DONE],
                  answer=completion({"content": None, "tool_calls": [
                      {"id": "call_alias", "type": "function", "function": {"name": alias, "arguments": "{}"}}]},
                      finish="tool_calls"))


async def test_long_and_odd_tool_names_are_aliased_and_restored(proxy, backend):
    backend.play("names", answer_with_the_alias)
    running = await proxy()
    tools = [{"name": n, "input_schema": {"type": "object", "properties": {}}} for n in (LONG, DOTTED, "Read")]
    history = ASK + [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": DOTTED, "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "file text"}]},
    ]
    aliases = []
    for send in (streamed, created):
        message = await send(running.client, "names", messages=history, tools=tools,
                             tool_choice={"type": "tool", "name": LONG})
        (tool,) = message.content
        assert (tool.type, tool.name, tool.input) == ("tool_use", LONG, {})
        assert message.stop_reason == "tool_use"
        sent = backend.requests[-1]
        names = [t["function"]["name"] for t in sent["tools"]]
        assert all(VALID_NAME.match(n) for n in names) and names[2] == "Read"
        assert sent["tool_choice"] == {"type": "function", "function": {"name": names[0]}}
        assert sent["messages"][1]["tool_calls"][0]["function"]["name"] == names[1]
        aliases.append(names)
    assert aliases[0] == aliases[1]  # stable across the requests of a conversation


# stop sequences past the backend's limit ---------------------------------------------------

STOPS = ["<1>", "<2>", "<3>", "<4>", "</answer>", "Observation:"]


async def test_a_stop_sequence_past_the_limit_ends_the_stream_and_cancels_the_backend(proxy, backend):
    backend.play("stop", Script(stream=[
        chunk({"role": "assistant", "content": "Thought: use </a"}),  # a partial match that turns out not to be one
        chunk({"content": "> tags. Answer: 42.</ans"}),
        chunk({"content": "wer>\nObservation: more"}),  # the match straddles two chunks
        0.05, chunk({"content": " never seen"}),
    ], hang=True))
    running = await proxy()
    started = time.monotonic()
    message = await streamed(running.client, "stop", stop_sequences=STOPS)
    assert time.monotonic() - started < 5  # the answer ended at the match, not when the backend would have
    assert message.content[0].text == "Thought: use </a> tags. Answer: 42."
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "</answer>")
    assert backend.requests[-1]["stop"] == STOPS[:4]
    await asyncio.wait_for(backend.cancelled("stop").wait(), timeout=10)


async def test_held_back_text_is_released_when_the_stream_ends_without_a_match(proxy, backend):
    backend.play("near-miss", Script(stream=[chunk({"role": "assistant", "content": "Almost </answ"}),
                                             chunk({"content": "ers and Observation"}), chunk(finish="stop"), DONE]))
    running = await proxy()
    message = await streamed(running.client, "near-miss", stop_sequences=STOPS)
    assert message.content[0].text == "Almost </answers and Observation"
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)


async def test_a_stop_sequence_past_the_limit_cuts_a_whole_answer(proxy, backend):
    call = {"id": "call_1", "type": "function", "function": {"name": "Read", "arguments": "{}"}}
    text = "Answer: 42.\nObservation: the tool said so"
    backend.play("stop", Script(answer=completion({"content": text, "tool_calls": [call]}, finish="tool_calls")))
    running = await proxy(max_stop_sequences=2)
    message = await created(running.client, "stop", stop_sequences=STOPS)
    assert [(b.type, b.text) for b in message.content] == [("text", "Answer: 42.\n")]
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "Observation:")
    assert backend.requests[-1]["stop"] == STOPS[:2]
    proxy_id = (await running.client.messages.with_raw_response.create(
        model="stop", max_tokens=64, messages=ASK, stop_sequences=STOPS)).headers["x-claude-proxy-id"]
    row = await running.row(proxy_id)
    assert row["stop_reason"] == "stop_sequence"
