"""Anthropic requests -> chat-completions requests: nothing a provider can use is lost."""

from __future__ import annotations

import copy
import json

from claude_proxy.proxy.translate import TranslateOptions, to_chat_request
from claude_proxy.proxy.translate.schema import strip_keywords

from . import claude_code


def test_claude_code_sized_request_translates_without_loss() -> None:
    body = claude_code.request()
    original = copy.deepcopy(body)
    out = to_chat_request(body, "deepseek/deepseek-chat", TranslateOptions(reasoning="effort"))
    assert body == original, "the client's body must not be mutated"

    assert out["model"] == "deepseek/deepseek-chat"
    assert out["max_tokens"] == 32000 and out["temperature"] == 1
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    assert out["user"] == "user_abc_account__session_123"
    assert out["reasoning_effort"] == "medium"

    # every tool, with its description and a schema minus only the stripped keyword
    assert [t["function"]["name"] for t in out["tools"]] == claude_code.TOOL_NAMES
    for sent, tool in zip(out["tools"], original["tools"], strict=True):
        assert sent["type"] == "function"
        assert sent["function"]["description"] == tool["description"]
        expected = dict(tool["input_schema"])
        del expected["$schema"]
        assert sent["function"]["parameters"] == expected

    roles = [m["role"] for m in out["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "tool", "user", "system"]
    system, user, assistant, tool1, tool2, after_results, late_system = out["messages"]
    assert system["content"] == ("You are Claude Code, Anthropic's official CLI for Claude.\n\n"
                                 "You are an interactive CLI tool that helps users with software engineering tasks.")
    assert user["content"] == [
        {"type": "text", "text": "<system-reminder>context</system-reminder>"},
        {"type": "text", "text": "Fix the failing test."},
    ]
    # thinking from the earlier turn is dropped; text and both calls are kept
    assert assistant["content"] == "I'll read the test and take a screenshot."
    assert "Let me read" not in json.dumps(out)
    calls = [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in assistant["tool_calls"]]
    assert calls == [
        ("toolu_01", "Read", {"file_path": "/src/test_a.py"}),
        ("toolu_02", "Bash", {"command": "screenshot"}),
    ]
    # results right after the assistant, in order; the error is marked; the image follows in a user message
    assert tool1 == {"role": "tool", "tool_call_id": "toolu_01", "content": "def test_a():\n    assert 1 == 2\n"}
    assert tool2 == {"role": "tool", "tool_call_id": "toolu_02", "content": "Error: exit 1"}
    label, image, text = after_results["content"]
    assert "toolu_02" in label["text"]
    assert image == {"type": "image_url", "image_url": {"url": "data:image/png;base64," + claude_code.PNG}}
    assert text == {"type": "text", "text": "Also check the CI log."}
    assert late_system == {"role": "system", "content": "The user switched to plan mode."}
    assert "cache_control" not in json.dumps(out)


def test_tool_choice_and_parallel_calls() -> None:
    base = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10,
            "tools": [{"name": "t", "input_schema": {"type": "object"}}]}
    cases = [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "t"}, {"type": "function", "function": {"name": "t"}}),
    ]
    for choice, expected in cases:
        assert to_chat_request({**base, "tool_choice": choice}, "m")["tool_choice"] == expected
    out = to_chat_request({**base, "tool_choice": {"type": "auto", "disable_parallel_tool_use": True}}, "m")
    assert out["parallel_tool_calls"] is False
    no_tools_body = {"messages": [], "tool_choice": {"type": "auto", "disable_parallel_tool_use": True}}
    no_tools = to_chat_request(no_tools_body, "m")
    assert "parallel_tool_calls" not in no_tools and "tool_choice" not in no_tools


def test_sampling_stop_and_max_tokens_field() -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 50, "top_p": 0.5, "top_k": 5,
            "stop_sequences": ["END", "STOP"]}
    out = to_chat_request(body, "o3", TranslateOptions(max_tokens_field="max_completion_tokens"))
    assert out["max_completion_tokens"] == 50 and "max_tokens" not in out
    assert out["top_p"] == 0.5 and "top_k" not in out
    assert out["stop"] == ["END", "STOP"]
    assert "stream" not in out


def test_thinking_options_per_backend() -> None:
    body = {"messages": [], "thinking": {"type": "enabled", "budget_tokens": 2000}}
    assert "reasoning_effort" not in to_chat_request(body, "m")
    assert to_chat_request(body, "m", TranslateOptions(reasoning="effort"))["reasoning_effort"] == "low"
    assert to_chat_request(body, "m", TranslateOptions(reasoning="openrouter"))["reasoning"] == {"max_tokens": 2000}
    off = {"messages": [], "thinking": {"type": "disabled"}}
    assert "reasoning" not in to_chat_request(off, "m", TranslateOptions(reasoning="openrouter"))


def test_images_documents_and_url_sources() -> None:
    body = {"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": "https://example.test/a.png"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
         "title": "spec.pdf"},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain doc"}},
        {"type": "text", "text": "summarise"},
    ]}]}
    parts = to_chat_request(body, "m")["messages"][0]["content"]
    assert parts == [
        {"type": "image_url", "image_url": {"url": "https://example.test/a.png"}},
        {"type": "file", "file": {"filename": "spec.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}},
        {"type": "text", "text": "plain doc"},
        {"type": "text", "text": "summarise"},
    ]


def test_files_api_blocks_leave_a_note_the_model_can_read() -> None:
    """The provider cannot fetch a Files API id: the model is told what was left out, in the user's
    turn and in a tool result, instead of answering as if nothing had been attached."""
    body = {"messages": [
        {"role": "user", "content": "read it"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "fetch", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                {"type": "text", "text": "fetched"},
                {"type": "image", "source": {"type": "file", "file_id": "file_img"}}]},
            {"type": "document", "source": {"type": "file", "file_id": "file_doc"}, "title": "spec.pdf"},
            {"type": "text", "text": "summarise"},
        ]},
    ]}
    messages = to_chat_request(body, "m")["messages"]
    tool = next(m for m in messages if m["role"] == "tool")
    assert "fetched" in tool["content"] and "image file_img from the Files API left out" in tool["content"]
    user = messages[-1]["content"]
    assert user[0] == {"type": "text", "text": "[document file_doc from the Files API left out: "
                                               "this model's provider cannot read it]"}
    assert user[1] == {"type": "text", "text": "summarise"}


def test_server_tools_are_dropped_and_empty_assistant_turns_skipped() -> None:
    body = {"messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "x", "signature": "s"}]},
        {"role": "user", "content": "again"},
    ], "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]}
    out = to_chat_request(body, "m")
    assert "tools" not in out
    assert [m["role"] for m in out["messages"]] == ["user", "user"]


def test_schema_stripping_is_structural() -> None:
    schema = {
        "$schema": "x", "type": "object", "additionalProperties": False,
        "properties": {"format": {"type": "string", "format": "email"},
                       "list": {"type": "array", "items": {"type": "string", "format": "uri"}},
                       "either": {"oneOf": [{"type": "string", "format": "date"}]}},
        "$defs": {"additionalProperties": {"type": "object", "additionalProperties": False}},
    }
    out = strip_keywords(schema, ["$schema", "format", "additionalProperties"])
    assert out == {
        "type": "object",
        "properties": {"format": {"type": "string"}, "list": {"type": "array", "items": {"type": "string"}},
                       "either": {"oneOf": [{"type": "string"}]}},
        "$defs": {"additionalProperties": {"type": "object"}},
    }
    assert schema["properties"]["format"]["format"] == "email"


def test_max_tokens_cap_lowers_only_larger_requests() -> None:
    options = TranslateOptions(max_tokens_cap=8192)
    assert to_chat_request({"messages": [], "max_tokens": 32000}, "m", options)["max_tokens"] == 8192
    assert to_chat_request({"messages": [], "max_tokens": 100}, "m", options)["max_tokens"] == 100


def test_provider_tool_ids_anthropic_would_reject_round_trip() -> None:
    from claude_proxy.proxy.translate import to_anthropic_message

    completion = {"choices": [{"message": {"tool_calls": [
        {"id": "functions.Read:0", "type": "function", "function": {"name": "Read", "arguments": "{}"}}]},
        "finish_reason": "tool_calls"}]}
    tool_id = to_anthropic_message(completion, "m")["content"][0]["id"]
    assert tool_id.startswith("toolu_") and all(c.isalnum() or c in "_-" for c in tool_id)
    body = {"messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": tool_id, "name": "Read", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": "ok"}]},
    ]}
    assistant, tool = to_chat_request(body, "m")["messages"]
    assert assistant["tool_calls"][0]["id"] == "functions.Read:0"
    assert tool["tool_call_id"] == "functions.Read:0"


def test_adaptive_thinking_uses_the_requested_effort() -> None:
    body = {"messages": [], "thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}}
    assert to_chat_request(body, "m", TranslateOptions(reasoning="effort"))["reasoning_effort"] == "low"
    assert to_chat_request(body, "m", TranslateOptions(reasoning="openrouter"))["reasoning"] == {"effort": "low"}
    plain = {"messages": [], "thinking": {"type": "adaptive"}}
    assert to_chat_request(plain, "m", TranslateOptions(reasoning="effort"))["reasoning_effort"] == "medium"
