"""Rewrite rules: each changes exactly what it says, and untouched requests keep their bytes."""

from __future__ import annotations

import json

import aiohttp
import pytest

from claude_proxy.settings import SettingsError
from tests.support import sample_hooks

BASE = {"model": "claude-3-5-haiku-20241022", "max_tokens": 5000, "metadata": {"user_id": "u1"},
        "messages": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"},
                     {"role": "user", "content": "last"}]}


async def _send(server, body, path: str = "/v1/messages", raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body).encode()
    async with aiohttp.ClientSession() as client:
        async with client.post(server.url + path, data=data, headers={"content-type": "application/json"}) as resp:
            return resp.status, await resp.read()


async def _rewritten(start_proxy, make_settings, fake_upstream, rewrite, body=BASE, path="/v1/messages"):
    server = await start_proxy(make_settings(rewrite=rewrite))
    status, _ = await _send(server, body, path)
    assert status == 200
    return fake_upstream.received[-1].json()


@pytest.mark.parametrize("model,expected", [
    ("claude-3-5-haiku-20241022", "claude-haiku-4-5"),
    ("big", "claude-opus-4-1"),
    ("claude-sonnet-4-5", "claude-sonnet-4-5"),
])
async def test_model_aliases_exact_and_glob(start_proxy, make_settings, fake_upstream, model, expected):
    aliases = {"claude-3-5-haiku*": "claude-haiku-4-5", "big": "claude-opus-4-1"}
    sent = await _rewritten(start_proxy, make_settings, fake_upstream, {"model_aliases": aliases},
                            {**BASE, "model": model})
    assert sent["model"] == expected


async def test_alias_that_matches_nothing_keeps_the_exact_bytes(start_proxy, make_settings, fake_upstream):
    server = await start_proxy(make_settings(rewrite={"model_aliases": {"big": "claude-opus-4-1"}}))
    raw = b'{"model":  "claude-sonnet-4-5" , "max_tokens":1,"messages":[]}'
    await _send(server, None, raw=raw)
    assert fake_upstream.received[-1].body == raw


async def test_system_prepend_and_append_on_a_string(start_proxy, make_settings, fake_upstream):
    sent = await _rewritten(start_proxy, make_settings, fake_upstream,
                            {"system_prepend": "BEFORE", "system_append": "AFTER"}, {**BASE, "system": "core"})
    assert sent["system"] == "BEFORE\n\ncore\n\nAFTER"


async def test_system_on_blocks_keeps_cache_control(start_proxy, make_settings, fake_upstream):
    blocks = [{"type": "text", "text": "core", "cache_control": {"type": "ephemeral"}}]
    sent = await _rewritten(start_proxy, make_settings, fake_upstream,
                            {"system_prepend": "BEFORE", "system_append": "AFTER"}, {**BASE, "system": blocks})
    assert sent["system"] == [{"type": "text", "text": "BEFORE"}, blocks[0], {"type": "text", "text": "AFTER"}]


async def test_system_added_when_absent(start_proxy, make_settings, fake_upstream):
    sent = await _rewritten(start_proxy, make_settings, fake_upstream, {"system_append": "AFTER"})
    assert sent["system"] == "AFTER"


async def test_append_to_last_user_string_and_blocks(start_proxy, make_settings, fake_upstream):
    sent = await _rewritten(start_proxy, make_settings, fake_upstream, {"append_to_last_user": " PS"})
    assert [m["content"] for m in sent["messages"]] == ["first", "ok", "last PS"]  # exactly as written
    blocks = {**BASE, "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": "42"}]}]}
    sent = await _rewritten(start_proxy, make_settings, fake_upstream, {"append_to_last_user": "PS"}, blocks)
    assert sent["messages"][0]["content"] == [{"type": "tool_result", "tool_use_id": "t1", "content": "42"},
                                              {"type": "text", "text": "PS"}]
    text_last = {**BASE, "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello, world"}]}]}
    sent = await _rewritten(start_proxy, make_settings, fake_upstream, {"append_to_last_user": " and say moo"},
                            text_last)
    assert sent["messages"][0]["content"] == [{"type": "text", "text": "Hello, world and say moo"}]


async def test_set_and_drop_top_level_fields(start_proxy, make_settings, fake_upstream):
    sent = await _rewritten(start_proxy, make_settings, fake_upstream,
                            {"set": {"max_tokens": 1024, "temperature": 0}, "drop": ["metadata"]})
    assert sent["max_tokens"] == 1024 and sent["temperature"] == 0
    assert "metadata" not in sent
    assert sent["messages"] == BASE["messages"]


async def test_set_and_drop_leave_count_tokens_alone_but_aliases_apply(start_proxy, make_settings, fake_upstream):
    body = {"model": "big", "messages": BASE["messages"]}
    sent = await _rewritten(start_proxy, make_settings, fake_upstream,
                            {"set": {"max_tokens": 1}, "model_aliases": {"big": "claude-opus-4-1"}},
                            body, "/v1/messages/count_tokens")
    assert sent == {"model": "claude-opus-4-1", "messages": BASE["messages"]}


async def test_rules_never_touch_other_routes(start_proxy, make_settings, fake_upstream):
    server = await start_proxy(make_settings(rewrite={"set": {"max_tokens": 1}, "system_append": "x"}))
    raw = b'{"requests": [ ]}'
    await _send(server, None, "/v1/messages/batches", raw=raw)
    assert fake_upstream.received[-1].body == raw


async def test_changed_body_gets_a_correct_content_length(start_proxy, make_settings, fake_upstream):
    await _rewritten(start_proxy, make_settings, fake_upstream, {"system_append": "a much longer system prompt"})
    got = fake_upstream.received[-1]
    assert got.headers["content-length"] == str(len(got.body))


async def test_malformed_json_is_400_when_a_rule_must_read_it(start_proxy, make_settings, fake_upstream):
    server = await start_proxy(make_settings(rewrite={"drop": ["metadata"]}))
    status, body = await _send(server, None, raw=b'{"model": ')
    assert status == 400
    assert json.loads(body)["error"]["type"] == "invalid_request_error"
    assert fake_upstream.received == []


async def test_a_number_of_thousands_of_digits_is_400_when_a_rule_must_read_it(start_proxy, make_settings,
                                                                             fake_upstream):
    """Python will not read an integer past 4,300 digits: the client's mistake, not an internal error."""
    server = await start_proxy(make_settings(rewrite={"drop": ["metadata"]}))
    raw = b'{"model": "claude-sonnet-4-5", "max_tokens": 5, "temperature": ' + b"9" * 5000 + b', "messages": []}'
    status, body = await _send(server, None, raw=raw)
    assert status == 400
    error = json.loads(body)["error"]
    assert error["type"] == "invalid_request_error" and "number too long" in error["message"]
    assert fake_upstream.received == []


async def test_malformed_json_passes_through_when_no_rule_applies(proxy, fake_upstream):
    await _send(proxy, None, "/v1/messages/count_tokens", raw=b'{"model": ')
    assert fake_upstream.received[-1].body == b'{"model": '


async def test_hook_replaces_the_body_and_sees_the_context(start_proxy, make_settings, fake_upstream):
    sample_hooks.SEEN.clear()
    sent = await _rewritten(start_proxy, make_settings, fake_upstream,
                            {"hooks": ["tests.support.sample_hooks:tag_metadata"]})
    assert sent["metadata"] == {"user_id": "hook:/v1/messages"}
    context = sample_hooks.SEEN[-1]
    assert context.method == "POST" and context.client == "127.0.0.1"
    assert context.headers["content-type"] == "application/json"


async def test_hook_returning_none_keeps_the_exact_bytes(start_proxy, make_settings, fake_upstream):
    server = await start_proxy(make_settings(rewrite={"hooks": ["tests.support.sample_hooks:leave_alone"]}))
    raw = b'{"model":"m",   "messages":[]}'
    await _send(server, None, raw=raw)
    assert fake_upstream.received[-1].body == raw
    assert sample_hooks.SEEN[-1].path == "/v1/messages"


async def test_async_hooks_run_in_order_after_the_rules(start_proxy, make_settings, fake_upstream):
    sent = await _rewritten(start_proxy, make_settings, fake_upstream,
                            {"set": {"max_tokens": 4000}, "hooks": ["tests.support.sample_hooks:async_cap"]})
    assert sent["max_tokens"] == 100


async def test_a_failing_hook_fails_the_request_closed(start_proxy, make_settings, fake_upstream):
    server = await start_proxy(make_settings(rewrite={"hooks": ["tests.support.sample_hooks:explode"]}))
    status, body = await _send(server, BASE)
    assert status == 500
    assert "boom" in json.loads(body)["error"]["message"]
    assert fake_upstream.received == []


@pytest.mark.parametrize("spec,reason", [
    ("tests.support.sample_hooks", "module:function"),
    ("tests.support.no_such_module:f", "cannot import"),
    ("tests.support.sample_hooks:missing", "no attribute"),
    ("tests.support.sample_hooks:NOT_CALLABLE", "not callable"),
])
async def test_bad_hooks_are_settings_errors_at_start(make_settings, spec, reason):
    from claude_proxy.proxy.app import create_app

    with pytest.raises(SettingsError, match=reason):
        create_app(make_settings(rewrite={"hooks": [spec]}))


async def test_hooks_let_empty_bodies_through(start_proxy, make_settings, fake_upstream):
    """e.g. POST /v1/messages/batches/{id}/cancel has no body: nothing to parse, nothing to refuse."""
    server = await start_proxy(make_settings(rewrite={"hooks": ["tests.support.sample_hooks:tag_metadata"]}))
    status, _ = await _send(server, None, "/v1/messages/batches/msgbatch_1/cancel", raw=b"")
    assert status == 404  # the fake's answer for an unknown route: the request did go through
    assert fake_upstream.received[-1].body == b""
