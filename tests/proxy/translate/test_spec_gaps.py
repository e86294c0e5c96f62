"""The last Chat Completions gaps: in-band errors, late tool names, custom-content documents, strict."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from claude_proxy.proxy.translate import StreamTranslator, estimate_input_tokens, to_chat_request
from claude_proxy.proxy.translate.errors import in_band_error, in_band_status

from . import scripted
from .sse_helpers import assemble, check_sequence, events

OPENROUTER_ERROR = {"code": "server_error", "message": "Provider disconnected unexpectedly",
                    "metadata": {"provider_name": "Example"}}


def error_chunk(error: dict | None, content: str = "") -> bytes:
    body = {"id": "gen-1", "object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": "error"}]}
    if error is not None:
        body["error"] = error
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def run(data: bytes, **kwargs) -> tuple[StreamTranslator, list]:
    translator = StreamTranslator("m", **kwargs)
    return translator, events(translator.feed(data) + translator.finish())


def test_an_error_beside_choices_ends_the_stream_with_an_error_event() -> None:
    translator, evs = run(scripted.chunk({"content": "The answer is "}) + error_chunk(OPENROUTER_ERROR, "for"))
    names = [n for n, _ in evs]
    assert names[-1] == "error" and "message_stop" not in names and names.count("error") == 1
    assert evs[-1][1]["error"] == {"type": "api_error", "message": "upstream error: Provider disconnected unexpectedly"}
    assert "".join(p["delta"]["text"] for n, p in evs if n == "content_block_delta") == "The answer is for"
    assert translator.provider_error == OPENROUTER_ERROR


def test_the_error_event_type_follows_the_provider_code() -> None:
    for code, kind in [(429, "rate_limit_error"), ("rate_limit_exceeded", "rate_limit_error"),
                       (529, "overloaded_error"), (408, "timeout_error"),
                       ("context_length_exceeded", "invalid_request_error"), ("odd", "api_error")]:
        _, evs = run(scripted.chunk({"content": "x"}) + error_chunk({"code": code, "message": "m"}))
        assert evs[-1][1]["error"]["type"] == kind, code


def test_finish_reason_error_alone_is_an_error_too() -> None:
    translator, evs = run(scripted.chunk({"content": "partial"}) + error_chunk(None))
    assert evs[-1][0] == "error" and evs[-1][1]["error"]["type"] == "api_error"
    assert "finish_reason" in evs[-1][1]["error"]["message"]


def test_an_error_before_any_output_keeps_its_status_for_the_caller() -> None:
    translator, evs = run(error_chunk({"code": 429, "message": "slow down"}))
    assert evs == [] and translator.error_status == 429 and translator.provider_error["message"] == "slow down"


def test_in_band_errors_in_whole_answers() -> None:
    assert in_band_error({"choices": [{"message": {}, "finish_reason": "stop"}], "error": None}) is None
    assert in_band_error({"choices": [{"message": {}, "finish_reason": "error"}]}) is not None
    assert in_band_status({"code": "502"}) == 502 and in_band_status({"type": "overloaded_error"}) == 529


def test_a_tool_block_starts_only_once_its_name_is_known() -> None:
    data = (scripted.chunk({"content": "Reading."})
            + scripted.chunk({"tool_calls": [scripted.call(0, "call_1", None, '{"path"')]})
            + scripted.chunk({"tool_calls": [scripted.call(0, arguments=': "a.py"')]})
            + scripted.chunk({"tool_calls": [scripted.call(0, name="Read", arguments="}")]})
            + scripted.chunk(finish="tool_calls"))
    _, evs = run(data)
    check_sequence(evs)
    starts = [p["content_block"] for n, p in evs if n == "content_block_start"]
    assert starts[1]["name"] == "Read"
    tool_deltas = [p["delta"]["partial_json"] for n, p in evs if n == "content_block_delta" and p["index"] == 1]
    assert "".join(tool_deltas) == '{"path": "a.py"}'
    message = assemble(evs)
    assert [(b["type"], b.get("name"), b.get("input")) for b in message["content"]] == [
        ("text", None, None), ("tool_use", "Read", {"path": "a.py"})]


def test_text_after_a_nameless_call_waits_behind_it() -> None:
    data = (scripted.chunk({"tool_calls": [scripted.call(0, "call_1", None, "{}")]})
            + scripted.chunk({"content": "after"})
            + scripted.chunk({"tool_calls": [scripted.call(0, name="Bash")]})
            + scripted.chunk(finish="tool_calls"))
    _, evs = run(data)
    check_sequence(evs)
    assert [(b["type"], b.get("name")) for b in assemble(evs)["content"]] == [("tool_use", "Bash"), ("text", None)]


def content_document() -> dict:
    return {"type": "document", "title": "Release notes", "context": "Internal draft, not yet published",
            "source": {"type": "content", "content": [{"type": "text", "text": "Version 2 adds routing."},
                                                      {"type": "text", "text": "Version 3 adds limits."}]},
            "citations": {"enabled": True}}


def test_custom_content_documents_become_text_parts_with_title_and_context() -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
        content_document(), {"type": "text", "text": "What changed?"}]}]}
    (user,) = to_chat_request(body, "m")["messages"]
    assert user["content"] == [
        {"type": "text", "text": "Document: Release notes\nContext: Internal draft, not yet published"},
        {"type": "text", "text": "Version 2 adds routing."},
        {"type": "text", "text": "Version 3 adds limits."},
        {"type": "text", "text": "What changed?"},
    ]
    bare = {"type": "document", "source": {"type": "content", "content": "Just text."}}
    body["messages"][0]["content"] = [bare]
    assert to_chat_request(body, "m")["messages"][0]["content"] == "Just text."


def test_custom_content_documents_inside_tool_results_and_the_estimate() -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Fetch", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [content_document()]}]}]}
    tool = to_chat_request(body, "m")["messages"][1]
    assert tool["role"] == "tool" and "Release notes" in tool["content"] and "Version 3" in tool["content"]
    without_title = json.loads(json.dumps(body))
    del without_title["messages"][1]["content"][0]["content"][0]["title"]
    assert estimate_input_tokens(body) > estimate_input_tokens(without_title)


def test_strict_reaches_the_function() -> None:
    tools = [{"name": "a", "input_schema": {"type": "object"}, "strict": True},
             {"name": "b", "input_schema": {"type": "object"}}]
    out = to_chat_request({"model": "m", "max_tokens": 5, "messages": [], "tools": tools}, "m")
    assert out["tools"][0]["function"]["strict"] is True and "strict" not in out["tools"][1]["function"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["path", "n", "é"]), st.integers(0, 99), max_size=2),
                min_size=1, max_size=3), st.data())
def test_late_names_in_any_interleaving_keep_every_call_whole(tools: list[dict], data: st.DataObject) -> None:
    pieces: list[list[dict]] = []
    for index, arguments in enumerate(tools):
        raw = json.dumps(arguments)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), min_size=1, max_size=3)))
        fragments = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        named_at = data.draw(st.integers(1, len(fragments)))  # the name never comes with the first fragment
        deltas = [scripted.call(index, f"call_{index}" if i == 0 else None,
                                f"tool_{index}" if i == named_at else None, fragment)
                  for i, fragment in enumerate(fragments)]
        if named_at == len(fragments):
            deltas.append(scripted.call(index, name=f"tool_{index}"))
        pieces.append([{"tool_calls": [d]} for d in deltas])
    pieces.append([{"content": t} for t in data.draw(st.lists(st.sampled_from(["x", "y "]), max_size=3))])
    order: list[dict] = []
    while any(pieces):
        order.append(data.draw(st.sampled_from([p for p in pieces if p])).pop(0))
    _, evs = run(b"".join(scripted.chunk(d) for d in order) + scripted.chunk(finish="tool_calls"))
    check_sequence(evs)
    assert all(p["content_block"].get("name") != "" for n, p in evs if n == "content_block_start")
    calls = {b["name"]: b["input"] for b in assemble(evs)["content"] if b["type"] == "tool_use"}
    assert calls == {f"tool_{i}": arguments for i, arguments in enumerate(tools)}
