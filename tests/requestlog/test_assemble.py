"""SSE parsing and message assembly, checked against the recorded streams and the official SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest
from aiohttp import web

from claude_proxy.requestlog.assemble import (
    assemble,
    assemble_json,
    assemble_stream,
    parse_partial_json,
    parse_sse,
)

# The thinking stream is left out: it carries no usage, and the SDK's accumulator fails on it.
SDK_COMPARABLE = [
    "anthropic-stream-basic-text.sse",
    "anthropic-stream-tool-use.sse",
    "sdk-fixture-tool-use-response.sse",
    "sdk-fixture-refusal-response.sse",
    "sdk-fixture-max-tokens-partial-json.sse",
]


def read(fixtures_dir: Path, name: str) -> bytes:
    return (fixtures_dir / "anthropic" / name).read_bytes()


def test_text_stream(fixtures_dir: Path) -> None:
    got = assemble(read(fixtures_dir, "anthropic-stream-basic-text.sse"))
    assert got.complete and got.error is None
    assert got.message["content"] == [{"type": "text", "text": "Hello!"}]
    assert got.stop_reason == "end_turn"
    assert got.usage == {"input_tokens": 25, "output_tokens": 15}
    assert got.model == "claude-sonnet-4-5-20250929"


def test_a_block_index_far_past_the_blocks_is_reported_not_padded(fixtures_dir: Path) -> None:
    """An upstream that names block 999999999 must not make the log writer hold a billion placeholders."""
    stream = read(fixtures_dir, "anthropic-stream-basic-text.sse").replace(b'"index": 0', b'"index": 999999999')
    assert stream.count(b"999999999") >= 2
    got = assemble(stream)
    assert len(got.message["content"]) == 1
    assert any("999999999" in problem for problem in got.problems)


def test_tool_use_stream_parses_concatenated_input(fixtures_dir: Path) -> None:
    got = assemble(read(fixtures_dir, "anthropic-stream-tool-use.sse"))
    text, tool = got.message["content"]
    assert text["text"] == "Okay, let's check the weather for San Francisco, CA:"
    assert tool["type"] == "tool_use" and tool["name"] == "get_weather"
    assert tool["input"] == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert got.stop_reason == "tool_use"
    assert got.usage == {"input_tokens": 472, "output_tokens": 89}


def test_thinking_stream_keeps_signature_and_has_no_usage(fixtures_dir: Path) -> None:
    got = assemble(read(fixtures_dir, "anthropic-stream-extended-thinking.sse"))
    thinking, text = got.message["content"]
    assert thinking["type"] == "thinking"
    assert thinking["thinking"].startswith("Let me solve this step by step")
    assert thinking["thinking"].endswith("10,800 + 1,350 + 81 = 12,231")
    assert thinking["signature"].startswith("EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds")
    assert text == {"type": "text", "text": "27 * 453 = 12,231"}
    assert got.usage == {}
    assert got.stop_reason == "end_turn"


def test_abbreviated_web_search_stream_is_assembled_as_far_as_it_goes(fixtures_dir: Path) -> None:
    got = assemble(read(fixtures_dir, "anthropic-stream-web-search.abbreviated.sse"))
    kinds = [b["type"] for b in got.message["content"]]
    assert kinds == ["text", "server_tool_use", "text"]
    assert got.message["content"][1]["input"] == {"query": "weather NYC today"}
    assert got.usage["input_tokens"] == 10682 and got.usage["output_tokens"] == 510
    assert got.usage["cache_read_input_tokens"] == 0
    assert got.problems, "the '...' placeholder must be reported, not crash the assembler"


def test_cut_off_tool_input_keeps_what_was_complete(fixtures_dir: Path) -> None:
    got = assemble(read(fixtures_dir, "sdk-fixture-max-tokens-partial-json.sse"))
    tool = got.message["content"][1]
    assert tool["input"]["filename"] == "taxes.txt"
    # The cut-off last string ("Filing taxes) is dropped, as the SDK does.
    assert tool["input"]["lines_of_text"] == ["# COMPREHENSIVE TAX GUIDE FOR INDIVIDUALS WITH MULTIPLE W-2s", "",
                                              "## INTRODUCTION", ""]
    assert got.stop_reason == "max_tokens"


def test_error_event_is_reported(fixtures_dir: Path) -> None:
    got = assemble(read(fixtures_dir, "anthropic-event-error-overloaded.sse"))
    assert got.error == "overloaded_error: Overloaded"
    assert got.message is None


def test_malformed_event_from_the_docs_does_not_raise(fixtures_dir: Path) -> None:
    got = assemble(read(fixtures_dir, "anthropic-event-input-json-delta.doc-malformed.sse"))
    assert got.message is None and got.problems


@pytest.mark.parametrize("cut", [0.25, 0.5, 0.75, 0.9])
def test_stream_cut_anywhere_yields_a_partial_message(fixtures_dir: Path, cut: float) -> None:
    body = read(fixtures_dir, "anthropic-stream-tool-use.sse")
    got = assemble(body[: int(len(body) * cut)])
    assert not got.complete
    full = "Okay, let's check the weather for San Francisco, CA:"
    assert full.startswith(got.message["content"][0]["text"])


def test_stream_interrupted_by_an_error_keeps_the_text_and_the_error(fixtures_dir: Path) -> None:
    body = read(fixtures_dir, "anthropic-stream-basic-text.sse")
    cut = body.index(b"event: content_block_stop")
    got = assemble(body[:cut] + read(fixtures_dir, "anthropic-event-error-overloaded.sse"))
    assert got.message["content"][0]["text"] == "Hello!"
    assert got.error == "overloaded_error: Overloaded"
    assert not got.complete


def test_parse_sse_follows_the_event_stream_rules() -> None:
    body = b": comment\r\nevent: a\r\ndata: one\r\ndata:two\r\n\r\ndata: {\"x\": 1}\n\nevent: cut\ndata: tail"
    events = parse_sse(body)
    assert [(e.event, e.data) for e in events] == [("a", "one\ntwo"), ("message", '{"x": 1}'), ("cut", "tail")]


def test_json_message_and_error_bodies(fixtures_dir: Path) -> None:
    message = assemble(read(fixtures_dir, "anthropic-response-message-text.json"))
    assert message.message["content"][0]["text"] == "Hello!"
    assert message.usage == {"input_tokens": 12, "output_tokens": 6}
    error = assemble(read(fixtures_dir, "anthropic-error-overloaded.json"))
    assert error.message is None and error.error.startswith("overloaded_error")
    assert assemble_json(b"<html>bad gateway</html>").problems
    assert assemble(b"").message is None


def test_partial_json() -> None:
    assert parse_partial_json('{"a": [1, 2], "b": "he') == {"a": [1, 2]}
    assert parse_partial_json('{"a": [1, 2], "b": "he"}') == {"a": [1, 2], "b": "he"}
    assert parse_partial_json("") is None
    assert parse_partial_json("{]") is None


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


@pytest.mark.parametrize("name", SDK_COMPARABLE)
async def test_assembly_matches_the_official_sdk(fixtures_dir: Path, name: str, aiohttp_server: Any) -> None:
    """Serve the recorded stream to the real SDK; its final message must equal ours."""
    body = read(fixtures_dir, name)

    async def messages(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="text/event-stream")

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    server = await aiohttp_server(app)
    client = anthropic.AsyncAnthropic(base_url=str(server.make_url("")), api_key="sk-test", max_retries=0)
    async with client.messages.stream(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]) as s:
        final = await s.get_final_message()
    await client.close()

    ours = assemble_stream(body).message
    theirs = _without_none(final.model_dump(mode="json"))
    assert [_without_none(b) for b in ours["content"]] == theirs["content"]
    assert ours["stop_reason"] == theirs["stop_reason"]
    assert ours["id"] == theirs["id"] and ours["model"] == theirs["model"]
    assert {k: v for k, v in _without_none(ours.get("usage", {})).items() if k in theirs["usage"]} == {
        k: v for k, v in theirs["usage"].items() if k in ours.get("usage", {})
    }


def test_tail_of_a_cut_stream_supplies_only_the_closing_events(fixtures_dir: Path) -> None:
    full = read(fixtures_dir, "anthropic-stream-tool-use.sse")
    cut = assemble_stream(full[:700], tail=full[len(full) // 2:])
    assert cut.usage == {"input_tokens": 472, "output_tokens": 89} and cut.stop_reason == "tool_use"
    assert len(cut.message["content"]) == 1, "blocks from the tail are not grafted onto the head"
    assert cut.complete and "the middle of the stream was not kept" in cut.problems
