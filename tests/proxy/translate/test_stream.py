"""The stream translator: recorded and scripted OpenAI streams become well-formed Anthropic streams."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claude_proxy.proxy.translate import StreamTranslator

from . import scripted
from .sse_helpers import assemble, check_sequence, events

RECORDED = ["text", "tool-call", "parallel-tool-calls"]


def translate(data: bytes, splits: list[int] | None = None, **kwargs) -> bytes:
    translator = StreamTranslator("routed-model", message_id="msg_test", **kwargs)
    out = b""
    last = 0
    for cut in sorted(splits or []):
        out += translator.feed(data[last:cut])
        last = cut
    out += translator.feed(data[last:])
    return out + translator.finish()


def recorded(fixtures_dir: Path, name: str) -> bytes:
    return (fixtures_dir / "openai" / f"openai-chunks-{name}-with-usage.sse").read_bytes()


@pytest.mark.parametrize("name", RECORDED)
def test_recorded_streams_are_well_formed(fixtures_dir: Path, name: str) -> None:
    evs = events(translate(recorded(fixtures_dir, name)))
    check_sequence(evs)
    assert evs[0][1]["message"]["id"] == "msg_test"


@pytest.mark.parametrize("name", ["text", "tool-call"])
def test_recorded_streams_match_the_derived_translation(fixtures_dir: Path, name: str) -> None:
    ours = events(translate(recorded(fixtures_dir, name)))
    derived = events((fixtures_dir / "derived" / f"derived-anthropic-from-openai-{name}.sse").read_bytes())
    assert [n for n, _ in ours] == [n for n, _ in derived]
    for (_, mine), (_, theirs) in zip(ours[1:-2], derived[1:-2], strict=True):
        assert mine == theirs
    assert ours[-2][1]["delta"] == derived[-2][1]["delta"]
    # Where we differ on purpose: cached prompt tokens are reported apart (zero here).
    assert ours[-2][1]["usage"]["input_tokens"] == derived[-2][1]["usage"]["input_tokens"]
    assert ours[-2][1]["usage"]["output_tokens"] == derived[-2][1]["usage"]["output_tokens"]
    assert ours[0][1]["message"]["model"] == derived[0][1]["message"]["model"]


def test_parallel_tool_calls_become_two_blocks(fixtures_dir: Path) -> None:
    message = assemble(events(translate(recorded(fixtures_dir, "parallel-tool-calls"))))
    assert [(b["type"], b["name"], b["input"]) for b in message["content"]] == [
        ("tool_use", "GetWeatherArgs", {"city": "Edinburgh", "country": "GB", "units": "c"}),
        ("tool_use", "get_stock_price", {"ticker": "AAPL", "exchange": "NASDAQ"}),
    ]
    assert message["content"][0]["id"] == "call_JMW1whyEaYG438VE1OIflxA2"
    assert message["stop_reason"] == "tool_use"
    assert message["usage"]["input_tokens"] == 149
    assert message["usage"]["output_tokens"] == 60


def test_text_then_interleaved_tools_then_text() -> None:
    evs = events(translate(scripted.text_then_tools()))
    check_sequence(evs)
    message = assemble(evs)
    assert [b["type"] for b in message["content"]] == ["text", "tool_use", "tool_use", "text"]
    assert message["content"][0]["text"] == "Let me look that up."
    assert message["content"][1]["input"] == {"file_path": "/tmp/a.py"}
    assert message["content"][2]["input"] == {"pattern": "def "}
    assert message["content"][3]["text"] == "Done."
    assert message["stop_reason"] == "tool_use"
    assert message["usage"]["input_tokens"] == 20
    assert message["usage"]["cache_read_input_tokens"] == 100
    assert message["usage"]["output_tokens"] == 33


def test_one_piece_arguments_with_a_reused_index_no_usage_no_done() -> None:
    evs = events(translate(scripted.one_piece_parallel(), input_estimate=77))
    check_sequence(evs)
    message = assemble(evs)
    assert [(b["id"], b["input"]) for b in message["content"]] == [
        ("call_1", {"command": "ls"}), ("call_2", {"command": "pwd"})]
    # "stop" with tool calls still reads as tool_use, or agents would not run the tools.
    assert message["stop_reason"] == "tool_use"
    # No usage from the provider: the local estimate stands in rather than zero.
    assert message["usage"]["input_tokens"] == 77
    assert message["usage"]["output_tokens"] > 0


def test_reasoning_becomes_a_thinking_block_first() -> None:
    message = assemble(events(translate(scripted.reasoning_then_text())))
    assert [b["type"] for b in message["content"]] == ["thinking", "text"]
    assert message["content"][0]["thinking"] == "Think: 27*453 = 12231."
    assert message["content"][1]["text"] == "27 × 453 = 12 231 — voilà 🎉"
    assert message["stop_reason"] == "end_turn"


def test_stream_cut_off_mid_arguments_still_closes_every_block() -> None:
    data = scripted.chunk({"tool_calls": [scripted.call(0, "call_x", "Write", '{"path": "a", "con')]})
    evs = events(translate(data))
    names = [n for n, _ in evs]
    assert names == ["message_start", "content_block_start", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]


def test_length_and_content_filter_stop_reasons() -> None:
    for finish, reason in [("length", "max_tokens"), ("content_filter", "refusal"), ("stop", "end_turn")]:
        data = scripted.chunk({"content": "hi"}) + scripted.chunk(finish=finish) + scripted.DONE
        assert assemble(events(translate(data)))["stop_reason"] == reason


def test_upstream_error_chunk_mid_stream_becomes_one_error_event() -> None:
    error = b'data: {"error": {"message": "provider overloaded", "code": 502}}\n\n'
    data = scripted.chunk({"content": "partial"}) + error
    evs = events(translate(data))
    assert evs[-1][0] == "error"
    assert "provider overloaded" in evs[-1][1]["error"]["message"]
    assert [n for n, _ in evs].count("error") == 1
    assert "message_stop" not in [n for n, _ in evs]


def test_comments_crlf_and_missing_blank_lines_are_tolerated() -> None:
    data = (b": OPENROUTER PROCESSING\r\n\r\n"
            + scripted.chunk({"content": "a"}).replace(b"\n\n", b"\r\n\r\n")
            + scripted.chunk({"content": "b"}).replace(b"\n\n", b"\n")
            + scripted.chunk({"content": "c"}).replace(b"\n\n", b"\n")
            + b"\n" + scripted.chunk(finish="stop"))
    message = assemble(events(translate(data)))
    assert message["content"][0]["text"] == "abc"


def test_nothing_after_done_and_no_done_in_output() -> None:
    data = scripted.chunk({"content": "x"}) + scripted.DONE + scripted.chunk({"content": "ignored"})
    out = translate(data)
    assert b"[DONE]" not in out
    assert b"ignored" not in out


def test_utf8_split_inside_a_character() -> None:
    data = scripted.chunk({"content": "日本語の文字と絵文字🎉"}) + scripted.chunk(finish="stop")
    position = data.index("🎉".encode()) + 2
    message = assemble(events(translate(data, [position, position + 1])))
    assert message["content"][0]["text"] == "日本語の文字と絵文字🎉"


STREAMS = {
    "text_then_tools": scripted.text_then_tools(),
    "one_piece": scripted.one_piece_parallel(),
    "reasoning": scripted.reasoning_then_text(),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(STREAMS)), data=st.data())
def test_any_split_gives_the_same_events(name: str, data: st.DataObject) -> None:
    raw = STREAMS[name]
    splits = data.draw(st.lists(st.integers(min_value=0, max_value=len(raw)), max_size=40))
    assert translate(raw, splits) == translate(raw)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_any_split_of_a_recorded_stream_gives_the_same_events(data: st.DataObject) -> None:
    from tests.conftest import FIXTURES

    raw = (FIXTURES / "openai" / "openai-chunks-parallel-tool-calls-with-usage.sse").read_bytes()
    splits = data.draw(st.lists(st.integers(min_value=0, max_value=len(raw)), max_size=60))
    assert translate(raw, splits) == translate(raw)


def test_byte_by_byte_feed_matches_whole_feed(fixtures_dir: Path) -> None:
    raw = recorded(fixtures_dir, "tool-call")
    assert translate(raw, list(range(len(raw)))) == translate(raw)
    assert events(translate(raw))[-2][1]["usage"]["output_tokens"] == 24


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@st.composite
def provider_streams(draw):
    """Random interleavings of text, reasoning and parallel tool calls, each argument string cut anywhere."""
    tools = draw(st.lists(st.dictionaries(st.text(min_size=1, max_size=5), json_values, max_size=3), max_size=3))
    pieces: list[list[dict]] = []
    for index, arguments in enumerate(tools):
        raw = json.dumps(arguments, ensure_ascii=False)
        cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=4)))
        fragments = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        deltas = [{"tool_calls": [scripted.call(index, f"call_{index}", f"tool_{index}", fragments[0])]}]
        deltas += [{"tool_calls": [scripted.call(index, arguments=f)]} for f in fragments[1:]]
        pieces.append(deltas)
    texts = draw(st.lists(st.text(min_size=1, max_size=6), max_size=4))
    pieces.append([{"content": t} for t in texts])
    thoughts = draw(st.lists(st.text(min_size=1, max_size=6), max_size=3))
    pieces.append([{"reasoning_content": t} for t in thoughts])
    order: list[dict] = []
    while any(pieces):
        live = [p for p in pieces if p]
        order.append(draw(st.sampled_from(live)).pop(0))
    data = b"".join(scripted.chunk(d) for d in order) + scripted.chunk(finish="tool_calls" if tools else "stop")
    first_seen = [d["tool_calls"][0]["index"] for d in order if d.get("tool_calls") and d["tool_calls"][0].get("id")]
    return data, [(f"tool_{i}", tools[i]) for i in first_seen], "".join(texts), "".join(thoughts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(provider_streams())
def test_random_interleavings_keep_every_block_whole(stream) -> None:
    data, tools, text, thinking = stream
    evs = events(translate(data))
    check_sequence(evs)
    message = assemble(evs)
    blocks = message["content"]
    # one block per call, in order of first appearance, each with exactly its own arguments
    assert [(b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"] == tools
    assert "".join(b["text"] for b in blocks if b["type"] == "text") == text
    assert "".join(b["thinking"] for b in blocks if b["type"] == "thinking") == thinking
    assert message["stop_reason"] == ("tool_use" if tools else "end_turn")


def test_glued_events_without_blank_lines_end_at_done() -> None:
    data = (scripted.chunk({"content": "a"}).rstrip(b"\n") + b"\n" + scripted.chunk({"content": "b"}).rstrip(b"\n")
            + b"\ndata: [DONE]\n\n" + scripted.chunk({"content": "late"}))
    out = translate(data)
    assert assemble(events(out))["content"][0]["text"] == "ab"
    assert b"late" not in out


def test_an_error_before_any_output_is_left_to_the_caller() -> None:
    translator = StreamTranslator("m")
    out = translator.feed(b'data: {"error": {"message": "quota", "code": 429}}\n\n')
    assert out == b"" and translator.done
    assert translator.error_status == 429 and "quota" in translator.failed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.sampled_from(["stop", "tool_calls", 0]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["choices", "delta", "content", "tool_calls", "index", "id", "function", "name",
                         "arguments", "usage", "prompt_tokens", "finish_reason", "reasoning", "refusal", "model"]),
        children, max_size=4),
    max_leaves=12), max_size=6))
def test_garbage_chunks_never_break_the_stream(chunks: list) -> None:
    data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    out = translate(data)
    evs = events(out)
    if evs[-1][0] != "error":
        check_sequence(evs)


def test_a_whole_message_replayed_as_a_stream_assembles_to_itself() -> None:
    from claude_proxy.proxy.translate.replay import message_events

    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "stop_reason": "tool_use",
               "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 4},
               "content": [{"type": "thinking", "thinking": "hmm", "signature": ""},
                           {"type": "text", "text": "Let me check."},
                           {"type": "tool_use", "id": "call_1", "name": "Read", "input": {"path": "é"}}]}
    evs = events(message_events(message))
    check_sequence(evs)
    assert assemble(evs) == message


def test_groq_style_usage_is_read() -> None:
    data = (scripted.chunk({"content": "hi"}) + scripted.chunk(finish="stop")
            + b'data: {"choices": [], "x_groq": {"usage": {"prompt_tokens": 9, "completion_tokens": 2}}}\n\n')
    usage = assemble(events(translate(data)))["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (9, 2)
