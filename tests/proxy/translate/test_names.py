"""Tool names outside the Chat Completions rules travel as stable aliases and come back as they were."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from claude_proxy.proxy.translate import StreamTranslator, to_anthropic_message, to_chat_request
from claude_proxy.proxy.translate.names import ToolNames

from . import scripted
from .sse_helpers import assemble, check_sequence, events

VALID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LONG = "mcp__knowledge_base_server__search_every_document_in_the_workspace_by_meaning"  # 78 characters
DOTTED = "mcp__files.example.com__read:file"
SCHEMA = {"type": "object", "properties": {}}


def conversation() -> dict:
    return {
        "model": "m", "max_tokens": 10,
        "tools": [{"name": n, "input_schema": SCHEMA} for n in (LONG, DOTTED, "Read")],
        "tool_choice": {"type": "tool", "name": LONG},
        "messages": [
            {"role": "user", "content": "find it"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": DOTTED, "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}]},
        ],
    }


def test_odd_names_are_aliased_everywhere_and_valid_ones_kept() -> None:
    out = to_chat_request(conversation(), "m")
    names = ToolNames.from_request(conversation())
    sent = [t["function"]["name"] for t in out["tools"]]
    assert all(VALID.match(n) for n in sent)
    assert sent[2] == "Read"
    assert sent[0] == names.alias(LONG) != LONG and sent[1] == names.alias(DOTTED) != DOTTED
    assert sent[0].startswith("mcp__knowledge_base_server__")
    assert sent[1].startswith("mcp__files_example_com__read_file_")
    assert out["tool_choice"] == {"type": "function", "function": {"name": sent[0]}}
    assert out["messages"][1]["tool_calls"][0]["function"]["name"] == sent[1]
    assert [names.original(n) for n in sent] == [LONG, DOTTED, "Read"]


def test_the_alias_is_the_same_in_every_request_of_a_conversation() -> None:
    first = to_chat_request(conversation(), "m")
    later = conversation()
    later["tools"] = list(reversed(later["tools"]))  # another order, one tool fewer
    later["tools"].pop()
    again = to_chat_request(later, "m")
    assert {t["function"]["name"] for t in again["tools"]} <= {t["function"]["name"] for t in first["tools"]}


def test_an_alias_never_takes_another_tools_name() -> None:
    squatter = ToolNames([DOTTED]).alias(DOTTED)
    names = ToolNames([DOTTED, squatter])
    assert names.alias(squatter) == squatter
    assert names.alias(DOTTED) != squatter and VALID.match(names.alias(DOTTED))
    assert names.original(names.alias(DOTTED)) == DOTTED


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=90), max_size=8))
def test_any_names_get_distinct_valid_aliases_that_map_back(raw: list[str]) -> None:
    names = ToolNames(raw)
    aliases = {name: names.alias(name) for name in set(raw)}
    assert all(VALID.match(a) for a in aliases.values())
    assert len(set(aliases.values())) == len(aliases)
    assert all(names.original(a) == n for n, a in aliases.items())


def test_answers_and_streams_carry_the_original_names() -> None:
    names = ToolNames.from_request(conversation())
    alias = names.alias(LONG)
    completion = {"choices": [{"message": {"role": "assistant", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": alias, "arguments": "{}"}}]},
        "finish_reason": "tool_calls"}]}
    assert to_anthropic_message(completion, "m", names=names)["content"][0]["name"] == LONG
    call = scripted.call(0, "call_1", alias, "{}")
    data = scripted.chunk({"tool_calls": [call]}) + scripted.chunk(finish="tool_calls")
    translator = StreamTranslator("m", names=names)
    evs = events(translator.feed(data) + translator.finish())
    check_sequence(evs)
    assert assemble(evs)["content"][0]["name"] == LONG
