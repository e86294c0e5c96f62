"""Routing inside the real proxy: anthropic routes stay pass-through, scenario rules pick backends."""

from __future__ import annotations

import json
import subprocess

import aiohttp
import pytest
import yaml

from tests.support.fake_anthropic import FakeAnthropic

pytestmark = pytest.mark.processes

STREAM_BODY = b'{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hi"}]}'


async def post(url: str, body: bytes, path: str = "/v1/messages", **headers: str) -> tuple[int, dict, bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url + path, data=body, headers={"x-api-key": "sk-ant-client-0000", **headers}) as resp:
            return resp.status, dict(resp.headers), await resp.read()


async def test_without_routes_nothing_changes(start_proxy, fake_upstream: FakeAnthropic, fixtures_dir):
    server = await start_proxy()
    status, headers, data = await post(server.url, STREAM_BODY)
    assert status == 200 and "x-claude-proxy-route" not in headers
    assert data == (fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes()
    assert fake_upstream.received[-1].body == STREAM_BODY


async def test_a_route_to_upstream_keeps_the_bytes(
        start_proxy, make_settings, fake_upstream, fake_openai, fixtures_dir):
    settings = make_settings(backends={"fake": {"kind": "openai", "base_url": fake_openai.url}},
                             routes={"claude-3-5-haiku*": {"backend": "fake"}, "default": {"backend": "upstream"}})
    server = await start_proxy(settings)
    status, headers, data = await post(server.url, STREAM_BODY)
    assert status == 200
    assert headers["x-claude-proxy-route"] == "upstream/claude-sonnet-4-5"
    assert data == (fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes()
    assert fake_upstream.received[-1].body == STREAM_BODY
    assert fake_upstream.received[-1].headers["x-api-key"] == "sk-ant-client-0000"
    assert fake_openai.received == []


async def test_an_anthropic_route_can_rename_the_model(start_proxy, make_settings, fake_upstream):
    server = await start_proxy(make_settings(routes={"big": {"backend": "upstream", "model": "claude-opus-4-1"}}))
    body = json.loads(STREAM_BODY)
    body["model"] = "big"
    status, headers, _ = await post(server.url, json.dumps(body).encode())
    assert status == 200 and headers["x-claude-proxy-route"] == "upstream/claude-opus-4-1"
    sent = fake_upstream.received[-1].json()
    assert sent == {**body, "model": "claude-opus-4-1"}


async def test_a_named_anthropic_backend_gets_its_own_key(start_proxy, make_settings, fixtures_dir):
    async with FakeAnthropic(fixtures_dir / "anthropic") as other:
        settings = make_settings(
            upstream={"api_key": "sk-ant-upstream-1111"},
            backends={"corp": {"kind": "anthropic", "base_url": other.url, "api_key": "sk-corp-2222",
                               "headers": {"x-team": "blue"}},
                      "keyless": {"kind": "anthropic", "base_url": other.url}},
            routes={"corp-*": {"backend": "corp", "model": "claude-sonnet-4-5"}, "free": {"backend": "keyless"}})
        server = await start_proxy(settings)
        status, headers, _ = await post(server.url, STREAM_BODY.replace(b"claude-sonnet-4-5", b"corp-model"),
                                        authorization="Bearer client-token")
        assert status == 200 and headers["x-claude-proxy-route"] == "corp/claude-sonnet-4-5"
        sent = other.received[-1]
        assert sent.headers["x-api-key"] == "sk-corp-2222" and "authorization" not in sent.headers
        assert sent.headers["x-team"] == "blue"
        # A backend without a key never receives the upstream's key the proxy would have added.
        async with aiohttp.ClientSession() as session:
            free_body = STREAM_BODY.replace(b"claude-sonnet-4-5", b"free")
            async with session.post(server.url + "/v1/messages", data=free_body) as resp:
                assert resp.status == 200
        assert "x-api-key" not in other.received[-1].headers


async def test_count_tokens_on_an_anthropic_route_passes_through(start_proxy, make_settings, fake_upstream):
    server = await start_proxy(make_settings(routes={"default": {"backend": "upstream"}}))
    body = b'{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hello, Claude"}]}'
    status, headers, data = await post(server.url, body, "/v1/messages/count_tokens")
    assert status == 200 and headers["x-claude-proxy-route"] == "upstream/claude-sonnet-4-5"
    assert fake_upstream.received[-1].body == body
    assert json.loads(data)["input_tokens"] == 14


async def test_scenario_rules_pick_the_backend(start_proxy, make_settings, fake_upstream, fake_openai):
    settings = make_settings(
        backends={"fake": {"kind": "openai", "base_url": fake_openai.url}},
        routes={"thinking": {"backend": "fake", "model": "reasoning"},
                "long_context": {"backend": "fake", "model": "recorded-text", "threshold": 2000},
                "background": {"backend": "fake", "model": "no-usage"}})
    server = await start_proxy(settings)
    base = json.loads(STREAM_BODY)
    cases = [
        ({**base, "thinking": {"type": "enabled", "budget_tokens": 2000}}, "fake/reasoning"),
        ({**base, "messages": [{"role": "user", "content": "lorem ipsum " * 2000}]}, "fake/recorded-text"),
        ({**base, "model": "claude-3-5-haiku-20241022"}, "fake/no-usage"),
        (base, None),
    ]
    for body, label in cases:
        status, headers, data = await post(server.url, json.dumps(body).encode())
        assert status == 200
        assert headers.get("x-claude-proxy-route") == (label or "upstream/claude-sonnet-4-5")
        assert b"message_stop" in data and b"[DONE]" not in data


async def test_malformed_json_with_body_rules_is_a_400(start_proxy, make_settings, fake_openai):
    settings = make_settings(backends={"fake": {"kind": "openai", "base_url": fake_openai.url}},
                             routes={"thinking": {"backend": "fake"}})
    server = await start_proxy(settings)
    status, _, data = await post(server.url, b'{"model": "x", ')
    assert status == 400 and json.loads(data)["error"]["type"] == "invalid_request_error"


def test_a_route_to_an_unknown_backend_stops_serve_with_one_line(cli, cli_env, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"routes": {"big": {"backend": "nowhere"}}}))
    result = subprocess.run([*cli, "serve", "--port", "0", "--no-log", "--config", str(config)],
                            env=cli_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "routes.big.backend" in lines[0] and "nowhere" in lines[0]


def test_config_check_catches_a_route_to_an_unknown_backend(cli, cli_env, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"routes": {"default": {"backend": "openrouter"}}}))
    result = subprocess.run([*cli, "config", "check", "--config", str(config)],
                            env=cli_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "routes.default.backend" in result.stderr and "Traceback" not in result.stderr


async def test_errors_on_an_anthropic_route_carry_the_route(start_proxy, make_settings):
    from tests.support.fake_anthropic import closed_port

    settings = make_settings(upstream={"base_url": f"http://127.0.0.1:{closed_port()}"},
                             routes={"default": {"backend": "upstream"}})
    server = await start_proxy(settings)
    status, headers, data = await post(server.url, STREAM_BODY)
    assert status == 502 and json.loads(data)["error"]["type"] == "api_error"
    assert headers["x-claude-proxy-route"] == "upstream/claude-sonnet-4-5"


def test_config_route_shows_where_a_model_goes(cli, cli_env, tmp_path):
    config = tmp_path / "routes.yaml"
    config.write_text(yaml.safe_dump({
        "backends": {"or": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "routes": {"claude-3-5-haiku*": {"backend": "or", "model": "gemini-flash"},
                   "thinking": {"backend": "or", "model": "r1"}}}))

    def route(*args: str) -> str:
        result = subprocess.run([*cli, "config", "route", *args, "--config", str(config)],
                                env=cli_env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert route("claude-3-5-haiku-latest") == \
        "claude-3-5-haiku-latest -> or/gemini-flash (openai; route: claude-3-5-haiku*)"
    assert route("claude-opus-4", "--thinking") == "claude-opus-4 -> or/r1 (openai; route: thinking)"
    assert route("claude-opus-4") == \
        "claude-opus-4 -> upstream/claude-opus-4 (anthropic; no route matches: pass-through)"
