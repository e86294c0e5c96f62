"""A fallback to an OpenAI-compatible backend: the translating relay answers when Anthropic keeps failing."""

from __future__ import annotations

import anthropic

from claude_proxy.proxy.server import start_server
from claude_proxy.settings import parse_settings
from tests.support.faulty_upstream import FaultyUpstream
from tests.support.recording_log import RecordingLog


async def test_529_forever_falls_back_to_a_translated_backend(fake_openai, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with FaultyUpstream(model_faults={"claude-opus-4-1": "529-forever"}) as upstream:
        settings = parse_settings({
            "upstream": {"base_url": upstream.url, "retries": 1, "retry_backoff": 0.01},
            "log": {"enabled": False},
            "backends": {"oa": {"kind": "openai", "base_url": fake_openai.url, "api_key": "sk-oa-backend-1234"}},
            "routes": {"claude-opus-4-1": {"backend": "upstream", "fallbacks": ["cheap"]},
                       "cheap": {"backend": "oa", "model": "gpt-fallback"}},
        })
        log = RecordingLog()
        server = await start_server(settings, log, host="127.0.0.1", port=0)
        try:
            client = anthropic.AsyncAnthropic(base_url=server.url, api_key="sk-ant-client-0000", max_retries=0)
            message = await client.messages.create(model="claude-opus-4-1", max_tokens=32,
                                                   messages=[{"role": "user", "content": "hi"}])
            entries = await log.wait_for(1)
        finally:
            await server.stop()
    assert message.content[0].text == "Hello from gpt-fallback"
    assert upstream.count(fault="529-forever") == 1  # an SDK client retries itself: one try, then the fallback
    assert fake_openai.received[-1].body["model"] == "gpt-fallback"
    assert fake_openai.received[-1].headers["Authorization"] == "Bearer sk-oa-backend-1234"
    entry = entries[0]
    assert entry.route == "oa/gpt-fallback" and entry.status == 200 and entry.attempts == 2
    assert [a.get("status") for a in entry.attempt_log] == [529, None]
    assert entry.attempt_log[-1]["target"] == "cheap"


async def test_with_access_keys_the_proxys_key_never_reaches_another_backend(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with FaultyUpstream() as main, FaultyUpstream() as other:
        settings = parse_settings({
            "upstream": {"base_url": main.url, "api_key": "sk-ant-proxy-own-5555"},
            "server": {"auth_keys": ["team-key-abc-7777"]},
            "log": {"enabled": False},
            "backends": {"other": {"kind": "anthropic", "base_url": other.url}},
            "routes": {"elsewhere": {"backend": "other"}},
        })
        server = await start_server(settings, None, host="127.0.0.1", port=0)
        try:
            client = anthropic.AsyncAnthropic(base_url=server.url, api_key="team-key-abc-7777", max_retries=0)
            for model in ("elsewhere", "claude-haiku-4-5"):
                await client.messages.create(model=model, max_tokens=8, messages=[{"role": "user", "content": "hi"}])
        finally:
            await server.stop()
    assert "x-api-key" not in {k.lower() for k in other.received[-1].headers}
    assert {k.lower(): v for k, v in main.received[-1].headers.items()}["x-api-key"] == "sk-ant-proxy-own-5555"
    seen = repr([r.headers for r in (*main.received, *other.received)])
    assert "team-key-abc-7777" not in seen
