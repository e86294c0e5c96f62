"""Stop sequences past the backend's limit: cut before the first match, even one split across chunks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claude_proxy.proxy.translate import StreamTranslator, TranslateOptions, to_anthropic_message, to_chat_request
from claude_proxy.proxy.translate.replay import message_events
from claude_proxy.proxy.translate.stops import StopScanner, cut_at_stop, split_stop_sequences

from . import scripted
from .sse_helpers import assemble, check_sequence, events

STOPS = ["A1", "B2", "C3", "D4", "</answer>", "###"]


def test_the_first_ones_go_upstream_and_the_rest_stay_with_the_proxy() -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [], "stop_sequences": STOPS}
    assert to_chat_request(body, "m")["stop"] == STOPS[:4]
    assert TranslateOptions().proxy_stop_sequences(body) == ("</answer>", "###")
    assert "stop" not in to_chat_request(body, "m", TranslateOptions(max_stop_sequences=0))
    assert TranslateOptions(max_stop_sequences=0).proxy_stop_sequences(body) == tuple(STOPS)
    assert split_stop_sequences(["a", "", 5, "b"], 1) == (["a"], ("b",))


def test_the_match_generation_reaches_first_wins() -> None:
    assert cut_at_stop("say abc", ["abc", "b"]) == ("say a", "b")
    assert cut_at_stop("say abc", ["bc", "abc"]) == ("say ", "abc")
    assert cut_at_stop("nothing here", ["###"]) == ("nothing here", None)


def translate(pieces: list[str], stops: list[str], finish: str = "stop") -> list:
    translator = StreamTranslator("m", stop_sequences=stops)
    data = b"".join(scripted.chunk({"content": p}) for p in pieces) + scripted.chunk(finish=finish)
    return events(translator.feed(data) + translator.finish())


def test_a_match_split_across_chunks_ends_the_stream_there() -> None:
    evs = translate(["The answer is 42.</ans", "wer> and then", " more"], ["</answer>"])
    check_sequence(evs)
    message = assemble(evs)
    assert message["content"] == [{"type": "text", "text": "The answer is 42."}]
    assert evs[-2][1]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "</answer>"}
    assert "more" not in str(evs)


def test_held_back_text_is_released_when_it_turns_out_not_to_match() -> None:
    evs = translate(["Use </a", "> tags, or </ans", "wers"], ["</answer>"])
    assert assemble(evs)["content"][0]["text"] == "Use </a> tags, or </answers"
    assert evs[-2][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    tail = translate(["ends with </answ"], ["</answer>"])  # the stream ends while a match is pending
    assert assemble(tail)["content"][0]["text"] == "ends with </answ"


def test_held_back_text_goes_out_before_a_tool_call() -> None:
    data = (scripted.chunk({"content": "Let me check #"})
            + scripted.chunk({"tool_calls": [scripted.call(0, "call_1", "Read", '{"path": "a"}')]})
            + scripted.chunk(finish="tool_calls"))
    translator = StreamTranslator("m", stop_sequences=["###"])
    message = assemble(events(translator.feed(data) + translator.finish()))
    assert [b["type"] for b in message["content"]] == ["text", "tool_use"]
    assert message["content"][0]["text"] == "Let me check #"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab#<", max_size=30), st.data())
def test_any_split_gives_the_same_cut_as_the_whole_text(text: str, data: st.DataObject) -> None:
    stops = ["##", "<a#", "bab"]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    scanner = StopScanner(stops)
    sent, matched = "", None
    for piece in pieces:
        out, matched = scanner.feed(piece)
        sent += out
        if matched:
            break
    if matched is None:
        sent += scanner.release()
    assert (sent, matched) == cut_at_stop(text, stops)


def test_a_whole_answer_is_cut_and_tool_calls_after_the_match_dropped() -> None:
    completion = {"choices": [{"message": {"role": "assistant", "content": "Done.### trailing", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "Read", "arguments": "{}"}}]},
        "finish_reason": "tool_calls"}]}
    message = to_anthropic_message(completion, "m", stop_sequences=["###"])
    assert message["content"] == [{"type": "text", "text": "Done."}]
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "###")
    replayed = events(message_events(message))
    assert replayed[-2][1]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "###"}


def test_the_limit_is_a_validated_backend_setting() -> None:
    from claude_proxy.errors import SettingsError
    from claude_proxy.settings import parse_settings

    def backend(**options) -> dict:
        return {"backends": {"groq": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", **options}}}

    assert parse_settings(backend(), "s.yaml").backends["groq"].max_stop_sequences == 4
    options = TranslateOptions.from_backend(parse_settings(backend(max_stop_sequences=0), "s.yaml").backends["groq"])
    assert options.max_stop_sequences == 0
    with pytest.raises(SettingsError, match="max_stop_sequences"):
        parse_settings(backend(max_stop_sequences=-1), "s.yaml")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="ab#<é", min_size=1, max_size=6), max_size=8), st.data())
def test_a_stream_cut_anywhere_stops_where_the_whole_text_would(pieces: list[str], data: st.DataObject) -> None:
    stops = ["##", "<a#", "bé"]
    raw = b"".join(scripted.chunk({"content": p}) for p in pieces) + scripted.chunk(finish="stop")
    splits = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=8)))
    translator = StreamTranslator("m", stop_sequences=stops)
    out = b"".join(translator.feed(raw[a:b]) for a, b in zip([0, *splits], [*splits, len(raw)], strict=True))
    evs = events(out + translator.finish())
    check_sequence(evs)
    text, matched = cut_at_stop("".join(pieces), stops)
    assert "".join(b["text"] for b in assemble(evs)["content"]) == text
    assert evs[-2][1]["delta"] == {"stop_reason": "stop_sequence" if matched else "end_turn", "stop_sequence": matched}
