"""Non-streaming responses, provider errors and the local token estimate."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from claude_proxy.proxy.translate import estimate_input_tokens, to_anthropic_message, upstream_error
from claude_proxy.proxy.translate.tokens import text_tokens

from . import claude_code


def test_recorded_tool_call_completion(fixtures_dir: Path) -> None:
    completion = json.loads((fixtures_dir / "openai" / "openai-chat-completion-tool-call.json").read_text())
    message = to_anthropic_message(completion, "routed")
    assert message["id"].startswith("msg_")
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["model"] == "gpt-4o-2024-08-06"
    assert message["content"] == [{
        "type": "tool_use", "id": "call_Y6qJ7ofLgOrBnMD5WbVAeiRV", "name": "GetWeatherArgs",
        "input": {"city": "Edinburgh", "country": "UK", "units": "c"},
    }]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"]["input_tokens"] == 76 and message["usage"]["output_tokens"] == 24


def test_text_reasoning_cached_usage_and_missing_ids() -> None:
    completion = {
        "choices": [{"message": {"role": "assistant", "content": "Answer.", "reasoning_content": "Because.",
                                 "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": ""}}]},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 800}},
    }
    message = to_anthropic_message(completion, "fallback-name")
    assert message["model"] == "fallback-name"
    assert [b["type"] for b in message["content"]] == ["thinking", "text", "tool_use"]
    assert message["content"][2]["id"].startswith("toolu_") and message["content"][2]["input"] == {}
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {"input_tokens": 200, "output_tokens": 5, "cache_read_input_tokens": 800,
                                "cache_creation_input_tokens": 0}


def test_stop_reasons() -> None:
    cases = [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal"), (None, "end_turn")]
    for finish, reason in cases:
        completion = {"choices": [{"message": {"content": "x"}, "finish_reason": finish}]}
        assert to_anthropic_message(completion, "m")["stop_reason"] == reason


def test_error_mapping_keeps_retry_after() -> None:
    cases = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
             429: "rate_limit_error", 500: "api_error", 503: "api_error", 400: "invalid_request_error",
             422: "invalid_request_error", 529: "overloaded_error"}
    for status, kind in cases.items():
        err = upstream_error(status, b'{"error": {"message": "nope", "type": "x"}}', {"retry-after": "7"}, "openrouter")
        assert (err.status, err.error_type) == (status, kind)
        assert "nope" in err.message and "openrouter" in err.message
        assert err.headers == {"retry-after": "7"}
    plain = upstream_error(502, b"<html>bad gateway</html>", {}, "local")
    assert "bad gateway" in plain.message and plain.error_type == "api_error"


def test_count_tokens_errs_high_on_the_documented_example(fixtures_dir: Path) -> None:
    body = json.loads((fixtures_dir / "anthropic" / "anthropic-request-count-tokens.json").read_text())
    truth = json.loads((fixtures_dir / "anthropic" / "anthropic-response-count-tokens.json").read_text())
    estimate = estimate_input_tokens(body)
    assert truth["input_tokens"] <= estimate <= truth["input_tokens"] * 2


def test_count_tokens_counts_system_tools_and_messages() -> None:
    body = claude_code.request()
    full = estimate_input_tokens(body)
    for part in ("system", "tools", "messages"):
        assert estimate_input_tokens({k: v for k, v in body.items() if k != part}) < full, part
    # Tools add at least their text plus the tool-use preamble; an image counts as a full-size one.
    assert full > 24 * 100 + 1600


def test_text_estimate_errs_high_for_prose_and_code() -> None:
    # Known lower bounds: GPT-4o/cl100k counts for these strings; Claude's tokenizer is not cheaper.
    prose = "I'm unable to provide real-time weather updates. To get the current weather in San Francisco."
    code = "    def foo(self, x: int) -> None:\n        return self.bar[x] + 1\n"
    assert text_tokens(prose) >= 19
    assert text_tokens(code) >= 22
    assert text_tokens("日本語のテキスト") >= 8
    assert text_tokens("") == 0


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["choices", "message", "content", "tool_calls", "id", "function", "name", "arguments",
                         "usage", "prompt_tokens", "finish_reason", "reasoning_content", "refusal", "model", "text"]),
        children, max_size=4),
    max_leaves=12))
def test_any_completion_shape_gives_a_valid_message(completion) -> None:
    if not isinstance(completion, dict):
        completion = {"choices": completion}
    message = to_anthropic_message(completion, "fallback")
    assert message["type"] == "message" and isinstance(message["model"], str)
    assert message["stop_reason"] in ("end_turn", "max_tokens", "tool_use", "refusal")
    for block in message["content"]:
        assert block["type"] in ("thinking", "text", "tool_use")
        if block["type"] == "tool_use":
            assert isinstance(block["input"], dict) and isinstance(block["name"], str)
    assert all(isinstance(v, int) for v in message["usage"].values())
