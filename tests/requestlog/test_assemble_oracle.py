"""The optimised SSE parsing and stream assembly against the frozen original, on generated streams.

Streams are drawn from the events an API sends plus everything that goes wrong with
them (odd indices, non-string values, replaced blocks, bad JSON, odd framing, cuts,
tails); the original (`reference.assemble_v1`) and the current code must agree on the
events, the message (as the log writes it), the error, completeness and problems, or
raise the same exception.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from claude_proxy.requestlog import assemble
from claude_proxy.requestlog import sse as logsse
from tests.requestlog.reference import assemble_v1 as original

_texts = (st.sampled_from(["", "Hello", " world", "caf\u00e9 \U0001F600", "a\nb\t\"q\"\\", "\u2028", "sk-ant-x",
                          "\ud800"])
          | st.text(max_size=8))
_odd = st.none() | st.integers(-2, 3) | st.sampled_from(["1", 1.5, True, [], {}, [1]])



def _mostly(draw: st.DrawFn, usual: st.SearchStrategy[Any]) -> Any:
    """A usual value seven times in eight, an odd one otherwise."""
    return draw(usual) if draw(st.integers(0, 7)) else draw(_odd)


@st.composite
def _event(draw: st.DrawFn) -> dict[str, Any] | str:
    kind = draw(st.sampled_from(["start", "block", "text", "text", "text", "thinking", "signature", "json", "citation",
                                 "stop", "mdelta", "mstop", "ping", "error", "odd_delta", "raw", "untyped"]))
    index = _mostly(draw, st.sampled_from([0, 0, 0, 0, 1, 1, 2]))
    if kind == "start":
        message = draw(st.sampled_from([{"id": "m", "content": []}, {"id": "m"}, {"content": [{"type": "text"}]},
                                        {"content": "x", "usage": {"input_tokens": 3}}, "not a dict"]))
        return {"type": "message_start", "message": json.loads(json.dumps(message))}
    if kind == "block":
        block = draw(st.sampled_from([{"type": "text", "text": ""}, {"type": "text"}, {"type": "text", "text": 7},
                                      {"type": "thinking", "thinking": ""}, {"type": "tool_use", "input": {}},
                                      {"type": "text", "text": None}, "str", {}]))
        return {"type": "content_block_start", "index": index, "content_block": json.loads(json.dumps(block))}
    deltas = {"text": ("text_delta", "text"), "thinking": ("thinking_delta", "thinking"),
              "signature": ("signature_delta", "signature"), "json": ("input_json_delta", "partial_json"),
              "citation": ("citations_delta", "citation"), "odd_delta": ("mystery", "x")}
    if kind in deltas:
        kind_name, field = deltas[kind]
        delta: Any = {"type": kind_name, field: _mostly(draw, _texts)} if draw(st.integers(0, 9)) else draw(_odd)
        if kind == "json" and draw(st.booleans()):
            delta = {"type": kind_name, field: draw(st.sampled_from(['{"a": ', '1, "b": [', "]}", "NaN", "x"]))}
        return {"type": "content_block_delta", "index": index, "delta": delta}
    if kind == "stop":
        return {"type": "content_block_stop", "index": index}
    if kind == "mdelta":
        delta = draw(st.sampled_from([{"stop_reason": "end_turn"}, {"content": []}, {"usage": None}, "x"]))
        return {"type": "message_delta", "delta": delta, "usage": draw(st.sampled_from(
            [{"output_tokens": 5}, {"output_tokens": None, "input_tokens": 2}, None]))}
    if kind == "error":
        return {"type": "error", "error": draw(st.sampled_from([{"type": "overloaded_error", "message": "x"}, {}]))}
    if kind == "raw":
        return draw(st.sampled_from(["not json", "[1, 2]", "", '{"type": "ping"', '"\\ud800"', "NaN"]))
    if kind == "untyped":
        return {"index": index, "delta": {"type": "text_delta", "text": "u"}}
    return {"type": {"mstop": "message_stop", "ping": "ping"}[kind]}


@st.composite
def _frame(draw: st.DrawFn, payload: dict[str, Any] | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=draw(st.sampled_from(
        [(",", ":"), (", ", ": ")])), ensure_ascii=draw(st.booleans()))
    if not data.isascii() and "\ud800" in data:  # a lone surrogate is sent escaped (it has no UTF-8)
        data = json.dumps(payload, separators=(",", ":"))
    name = payload.get("type") if isinstance(payload, dict) else "x"
    lines = []
    style = draw(st.integers(0, 9))
    if style != 1:
        lines.append(draw(st.sampled_from(["event: ", "event:", "event:  "])) + str(name))
    if style == 2:
        lines.append(": a comment")
    if style == 3 and len(data) > 2:
        cut = draw(st.integers(1, len(data) - 1))
        lines += ["data: " + data[:cut], "data:" + data[cut:]]
    else:
        lines.append(draw(st.sampled_from(["data: ", "data:"])) + data)
    if style == 4:
        lines.append("id: 7")
    return "\n".join(lines) + draw(st.sampled_from(["\n\n", "\n\n", "\n\n", "\n\n\n", "\n"]))


@st.composite
def _stream(draw: st.DrawFn) -> tuple[bytes, bytes]:
    events = draw(st.lists(_event(), max_size=20))
    if draw(st.booleans()):
        events.insert(0, {"type": "message_start", "message": {"id": "m", "content": [], "usage": {"input_tokens": 1}}})
    text = "".join(draw(_frame(e)) for e in events)
    newline = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    body = text.replace("\n", newline).encode()
    cut = draw(st.integers(0, len(body)))
    tail = body[draw(st.integers(0, len(body))):] if draw(st.booleans()) else b""
    return body[:cut] if draw(st.booleans()) else body, tail


def _outcome(module: Any, body: bytes, tail: bytes) -> Any:
    try:
        got = module.assemble_stream(body, tail=tail)
    except Exception as exc:
        return f"raises {type(exc).__name__}: {exc}"
    message = None if got.message is None else json.dumps(got.message, ensure_ascii=False)
    return message, got.error, got.complete, got.problems


@settings(max_examples=1500, deadline=None)
@given(_stream())
def test_assembly_agrees_with_the_original(stream: tuple[bytes, bytes]) -> None:
    body, tail = stream
    assert [(e.event, e.data) for e in logsse.parse_sse(body)] == [(e.event, e.data) for e in original.parse_sse(body)]
    assert _outcome(assemble, body, tail) == _outcome(original, body, tail)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(["event: a", "event:b", "data: 1", "data:2", "data", "event", ": c", ":", "id: 3",
                                 "", "", "retry: 1", "data:  x", "x: y", "\ufeffdata: z"]), max_size=12),
       st.sampled_from(["\n", "\r\n", "\r", "\n\r"]), st.booleans())
def test_event_splitting_agrees_with_the_original(lines: list[str], newline: str, as_bytes: bool) -> None:
    text = newline.join(lines)
    data: bytes | str = text.encode() if as_bytes else text
    assert [(e.event, e.data) for e in logsse.parse_sse(data)] == [(e.event, e.data) for e in original.parse_sse(data)]


@given(st.binary(max_size=80) | st.sampled_from([b" " * 70 + b"data: x", b"\n" * 100 + b"event: y", b" " * 60 + b"{}"]))
def test_sniffing_agrees_with_the_original(body: bytes) -> None:
    assert logsse.looks_like_sse(body) == original.looks_like_sse(body)
    assert logsse.after_first_boundary(body) == original._after_first_boundary(body)


def _sse(*payloads: dict[str, Any]) -> bytes:
    return b"".join(f"event: {p['type']}\ndata: {json.dumps(p)}\n\n".encode() for p in payloads)


def _d(index: Any, kind: str, field: str, value: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, field: value}}


_S = {"type": "message_start", "message": {"id": "m", "content": []}}


def test_keys_keep_the_place_of_their_first_delta() -> None:
    """A text gathered in pieces must sit where its first delta put it, before keys set later."""
    streams = [
        _sse(_S, {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
             _d(0, "text_delta", "text", "a"), _d(0, "signature_delta", "signature", "s"),
             _d(0, "citations_delta", "citation", {"n": 1}), _d(0, "text_delta", "text", "b")),
        _sse(_S, {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use"}},
             _d(0, "thinking_delta", "thinking", "t"), _d(0, "input_json_delta", "partial_json", '{"x": 1}'),
             {"type": "content_block_stop", "index": 0}, _d(0, "text_delta", "text", "late"),
             _d(0, "thinking_delta", "thinking", "u")),
        _sse(_S, {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": None}},
             _d(0, "text_delta", "text", "a")),
        _sse(_S, {"type": "content_block_start", "index": 1, "content_block": {"type": "text"}},
             _d(0, "text_delta", "text", "into a placeholder"), _d(1, "text_delta", "text", "b")),
    ]
    for body in streams:
        assert _outcome(assemble, body, b"") == _outcome(original, body, b""), body
