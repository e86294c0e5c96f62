"""The viewer's pure parts: a stream's time line, the turn diff's cache verdicts, turns and threads."""

from __future__ import annotations

import json

from claude_proxy.requestlog.viewer.pages import timeline
from claude_proxy.requestlog.viewer.turndiff import diff_requests
from claude_proxy.requestlog.viewer.turns import build_threads

TOOLS = [{"name": "Read", "input_schema": {"type": "object"}}, {"name": "Bash", "input_schema": {"type": "object"}}]


def _body(messages: list, system: str = "be brief", tools: list | None = None, model: str = "claude-sonnet-4-5"):
    return {"model": model, "system": system, "tools": TOOLS if tools is None else tools, "messages": messages}


def test_each_event_gets_the_arrival_of_the_chunk_that_carried_its_first_byte() -> None:
    first = 'event: message_start\ndata: {"a":1}\n\nevent: ping\ndata: {}\n\n'
    second = 'event: content_block_delta\ndata: {"text":"é"}\n\n'
    third = 'event: message_stop\ndata: {}\n\n'
    body = first + second + third
    times = [[0, 120], [len(first.encode()), 450], [len((first + second).encode()), 900]]
    events = timeline(body, times)
    assert [(e["event"], e["ms"]) for e in events] == [
        ("message_start", 120), ("ping", 120), ("content_block_delta", 450), ("message_stop", 900)]
    assert [e["ms"] for e in timeline(body, None)] == [None] * 4  # a log written before times were kept


def test_a_turn_that_only_appends_keeps_the_cache_prefix() -> None:
    one = [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}]
    two = [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
           {"role": "assistant", "content": "hello"},
           {"role": "user", "content": [{"type": "text", "text": "more", "cache_control": {"type": "ephemeral"}}]}]
    diff = diff_requests(_body(one), _body(two))
    assert diff.prefix_intact and diff.cache_break == "prefix intact: 2 messages appended"


def test_the_first_change_in_cache_order_is_named() -> None:
    base = [{"role": "user", "content": "hi"}]
    tools = diff_requests(_body(base), _body(base, tools=TOOLS[:1]))
    assert not tools.prefix_intact and tools.tools_removed == ["Bash"] and "tool definitions" in tools.cache_break
    system = diff_requests(_body(base), _body(base, system="be brief. Today is Friday."))
    assert "system prompt changed" in system.cache_break
    assert any(line.startswith("+be brief. Today is Friday.") for line in system.system_diff)
    rewritten = diff_requests(_body(base + [{"role": "assistant", "content": "x"}]),
                              _body([{"role": "user", "content": "summary"}, {"role": "assistant", "content": "x"}]))
    assert rewritten.first_changed_message == 0 and "message 0" in rewritten.cache_break
    model = diff_requests(_body(base), _body(base, model="claude-opus-4-1"))
    assert "model changed" in model.cache_break


def test_tool_results_join_their_calls_and_subagents_their_spawner() -> None:
    call = {"type": "tool_use", "id": "toolu_1", "name": "Task", "input": {"prompt": "look around"}}
    rows = [
        {"id": "r1", "thread_id": "r1", "request_body": json.dumps(_body([{"role": "user", "content": "go"}])),
         "message": {"content": [call]}},
        {"id": "r2", "thread_id": "r2", "parent_id": "r1",
         "request_body": json.dumps(_body([{"role": "user", "content": "look around"}])),
         "message": {"content": [{"type": "text", "text": "found it"}]}},
        {"id": "r3", "thread_id": "r1", "request_body": json.dumps(_body([
            {"role": "user", "content": "go"}, {"role": "assistant", "content": [call]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "found it",
                                          "is_error": False}]}])),
         "message": {"content": [{"type": "text", "text": "done"}]}},
    ]
    main, sub = build_threads(rows)
    assert [t.id for t in main.turns] == ["r1", "r3"] and sub.parent_row == "r1"
    task = main.turns[0].answer[0]
    assert task.result is not None and task.result.text == "found it"
    assert task.subagents == ["r2"]
    assert main.turns[1].inputs[0][1][0].linked  # shown under its call, not again on its own
