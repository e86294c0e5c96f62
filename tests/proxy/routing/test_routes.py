"""Routing: exact names and aliases, globs, scenario rules, default, and the untouched pass-through."""

from __future__ import annotations

import json

import pytest

from claude_proxy.proxy.routing.routes import PASS_THROUGH, Router, peek_model
from claude_proxy.settings import SettingsError, parse_settings

ISSUE_SHAPE = {
    "backends": {"openrouter": {"kind": "openai", "base_url": "https://openrouter.ai/api/v1", "api_key": "k"}},
    "routes": {
        "claude-3-5-haiku*": {"backend": "openrouter", "model": "google/gemini-2.5-flash"},
        "big": {"backend": "openrouter", "model": "anthropic/claude-sonnet-4"},
        "default": {"backend": "openrouter", "model": "deepseek/deepseek-chat"},
    },
}


def router(data: dict) -> Router:
    return Router(parse_settings(data, "test.yaml"))


def test_no_routes_is_pass_through_and_needs_nothing() -> None:
    r = router({})
    assert not r.active and not r.needs_body
    assert r.route("claude-sonnet-4-5") is PASS_THROUGH
    assert PASS_THROUGH.kind == "anthropic" and PASS_THROUGH.label("claude-x") == "upstream/claude-x"


def test_the_issue_shape() -> None:
    r = router(ISSUE_SHAPE)
    assert r.active and not r.needs_body
    haiku = r.route("claude-3-5-haiku-20241022")
    assert (haiku.kind, haiku.label("claude-3-5-haiku-20241022")) == ("openai", "openrouter/google/gemini-2.5-flash")
    assert r.route("big").label("big") == "openrouter/anthropic/claude-sonnet-4"
    assert r.route("claude-sonnet-4-5").name == "default"
    assert r.route(None).name == "default"


def test_precedence_exact_then_scenarios_then_globs_then_default() -> None:
    data = {
        "backends": {"cheap": {"kind": "openai", "base_url": "http://127.0.0.1:1/v1"}},
        "routes": {
            "claude-*": {"backend": "cheap", "model": "glob"},
            "claude-exact": {"backend": "upstream", "model": "claude-sonnet-4-5"},
            "long_context": {"backend": "cheap", "model": "long", "threshold": 1000},
            "thinking": {"backend": "cheap", "model": "think"},
            "background": {"backend": "cheap", "model": "bg"},
        },
    }
    r = router(data)
    assert r.needs_body and r.threshold == 1000
    small = {"messages": [{"role": "user", "content": "hi"}]}
    huge = {"messages": [{"role": "user", "content": "word " * 5000}]}
    thinking = {**small, "thinking": {"type": "enabled", "budget_tokens": 2000}}
    assert r.route("claude-exact", huge).model == "claude-sonnet-4-5"
    assert r.route("claude-exact", huge).kind == "anthropic"
    assert r.route("claude-opus-4", huge).model == "long"
    assert r.route("claude-opus-4", thinking).model == "think"
    assert r.route("claude-3-5-haiku-latest", small).model == "bg"
    assert r.route("claude-opus-4", small).model == "glob"
    assert r.route("gpt-x", small) is PASS_THROUGH


def test_unmatched_model_without_default_passes_through_unchanged() -> None:
    r = router({"routes": {"big": {"backend": "upstream", "model": "claude-opus-4-1"}}})
    assert r.route("claude-sonnet-4-5") is PASS_THROUGH
    assert r.route("big").upstream_model("big") == "claude-opus-4-1"


def test_bad_routes_are_settings_errors_naming_the_key() -> None:
    with pytest.raises(SettingsError, match=r"routes\.big\.backend.*nowhere"):
        router({"routes": {"big": {"backend": "nowhere"}}})
    with pytest.raises(SettingsError, match=r"routes\.big\.threshold"):
        router({"routes": {"big": {"backend": "upstream", "threshold": 5}}})
    with pytest.raises(SettingsError, match=r"backends\.upstream.*reserved"):
        router({"backends": {"upstream": {"base_url": "http://127.0.0.1:1"}}})
    with pytest.raises(SettingsError, match=r"routes\.big\.fallbacks"):
        router({"routes": {"big": {"backend": "upstream", "fallbacks": ["small"]}}})


def test_models_page_lists_routed_names_in_anthropic_format() -> None:
    page = router(ISSUE_SHAPE).models_page()
    assert [m["id"] for m in page["data"]] == ["big"]
    assert page["data"][0]["type"] == "model" and "openrouter" in page["data"][0]["display_name"]
    assert page["has_more"] is False and page["first_id"] == "big" and page["last_id"] == "big"


def test_peek_model_reads_only_the_top_level_model() -> None:
    assert peek_model(b'{"max_tokens": 5, "model": "claude-x", "messages": []}') == "claude-x"
    nested = {"messages": [{"role": "assistant", "content": [
        {"type": "tool_use", "id": "t", "name": "n", "input": {"model": "decoy"}}]}], "model": "real"}
    assert peek_model(json.dumps(nested).encode()) == "real"
    decoy_in_text = {"messages": [{"role": "user", "content": '"model": "decoy"'}], "model": "m"}
    assert peek_model(json.dumps(decoy_in_text).encode()) == "m"
    assert peek_model(json.dumps({"model": "caf\u00e9"}).encode()) == "caf\u00e9"
    assert peek_model(b'{"messages": []}') is None
    assert peek_model(b"not json") is None


def test_the_threshold_may_be_spelt_as_in_the_issue() -> None:
    r = router({"routes": {"long_context": {"backend": "upstream", "long_context_threshold": 10}}})
    assert r.threshold == 10 and r.needs_body
    assert r.route("m", {"messages": [{"role": "user", "content": "many words " * 50}]}).name == "long_context"
    assert r.route("m", {"messages": [{"role": "user", "content": "hi"}]}).name == ""


def test_the_commented_example_in_settings_example_is_valid(monkeypatch) -> None:
    import yaml

    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")  # an unset ${VAR} without a default is an error

    from tests.conftest import REPO

    text = (REPO / "settings.example.yaml").read_text()
    section = text[text.index("\nbackends: {}"):text.index("# Precedence")]
    lines = []
    for line in section.splitlines():
        if line.startswith(("backends: {}", "routes: {}")):
            lines.append(line.split(":")[0] + ":")
        elif line.startswith("#  "):
            lines.append(line[1:])
    r = Router(parse_settings(yaml.safe_load("\n".join(lines)), "settings.example.yaml"))
    assert r.backends["openrouter"].kind == "openai"
    assert r.route("big").label("big") == "openrouter/anthropic/claude-sonnet-4"
    assert r.threshold == 60000


def test_the_readme_example_is_valid(monkeypatch) -> None:
    import yaml

    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")  # an unset ${VAR} without a default is an error

    from tests.conftest import REPO

    text = (REPO / "README.md").read_text()
    section = text[text.index("## Other providers"):]
    start = section.index("```yaml\n") + len("```yaml\n")
    block = section[start:section.index("```\n", section.index("```yaml\n") + 8)]
    r = Router(parse_settings(yaml.safe_load(block), "README.md"))
    assert r.route("local").label("local") == "ollama/qwen2.5-coder:32b"
    assert r.route("claude-3-5-haiku-latest").backend_name == "openrouter"
