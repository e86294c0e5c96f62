"""A real `claude-proxy serve` process: starts, answers, shuts down cleanly, fails in one line."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time

import aiohttp
import pytest

from tests.support.fake_anthropic import REQUEST_ID, FakeAnthropic

pytestmark = pytest.mark.processes


async def test_serve_starts_answers_and_exits_0_on_sigterm(serve_process, fake_upstream: FakeAnthropic):
    proc = await serve_process("--upstream", fake_upstream.url, "--no-log")
    out = b"".join(proc.lines).decode()
    assert f"export ANTHROPIC_BASE_URL={proc.url}" in out
    async with aiohttp.ClientSession() as client:
        async with client.post(proc.url + "/v1/messages", data=b'{"model":"m","stream":true}',
                               headers={"x-api-key": "sk-test"}) as resp:
            assert resp.status == 200 and resp.headers["request-id"] == REQUEST_ID
            assert (await resp.read()).startswith(b"event: message_start")
        async with client.get(proc.url + "/health") as resp:
            assert (await resp.json())["upstream"] == fake_upstream.url
    assert await proc.stop(signal.SIGTERM) == 0
    assert b"Traceback" not in proc.stderr


async def test_serve_reads_the_config_file_and_ctrl_c_exits_cleanly(serve_process, fake_upstream):
    proc = await serve_process(config={"upstream": {"base_url": fake_upstream.url},
                                       "rewrite": {"set": {"max_tokens": 7}}, "log": {"enabled": False}})
    async with aiohttp.ClientSession() as client:
        async with client.post(proc.url + "/v1/messages", data=b'{"model":"m","max_tokens":1000}') as resp:
            await resp.read()
    assert json.loads(fake_upstream.received[-1].body)["max_tokens"] == 7
    assert await proc.stop(signal.SIGINT) == 0
    assert b"Traceback" not in proc.stderr


def _run(cli, cli_env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*cli, "serve", *args], env=cli_env, capture_output=True, text=True, timeout=60)


def test_port_in_use_is_one_clear_line(cli, cli_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(cli, cli_env, "--port", str(port), "--no-log")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"claude-proxy: error: cannot listen on 127.0.0.1:{port}: address already in use")
    assert "Traceback" not in result.stderr


def test_bad_settings_are_one_clear_line(cli, cli_env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("upstream:\n  base_ur: http://x\n")
    result = _run(cli, cli_env, "--config", str(bad))
    assert result.returncode == 1
    assert result.stderr.strip() == f"claude-proxy: error: {bad}: unknown key 'upstream.base_ur'"


@pytest.mark.parametrize("args,message", [
    (["--upstream", "ftp://example"], "upstream URL must be http(s)"),
    (["--log-db", "x.db", "--no-log"], "cannot be used together"),
    (["--log-level", "loud", "--no-log"], "--log-level must be one of"),
    (["--no-log", "--config", "/nonexistent.yaml"], "settings file not found"),
])
def test_bad_options_are_one_clear_line(cli, cli_env, args, message):
    result = _run(cli, cli_env, *args)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr


def test_upstream_at_our_own_address_refuses_to_start(cli, cli_env):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = _run(cli, cli_env, "--port", str(port), "--upstream", f"http://127.0.0.1:{port}", "--no-log")
    assert result.returncode == 1
    assert "own address" in result.stderr and "Traceback" not in result.stderr


async def test_sigterm_lets_an_in_flight_stream_finish(serve_process, fake_upstream, fixtures_dir):
    from tests.support.fake_anthropic import Reply

    expected = (fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes()
    fake_upstream.enqueue(Reply.fixture("anthropic-stream-basic-text.sse", delay=0.1))
    proc = await serve_process("--upstream", fake_upstream.url, "--no-log")
    async with aiohttp.ClientSession() as client:
        async with client.post(proc.url + "/v1/messages", data=b"{}") as resp:
            first = await resp.content.readany()
            proc.proc.send_signal(signal.SIGTERM)
            rest = await resp.read()
    assert first + rest == expected
    assert await proc.stop() == 0


async def test_wildcard_listen_address_exports_a_loopback_url(serve_process, fake_upstream):
    proc = await serve_process("--host", "0.0.0.0", "--allow-unauthenticated", "--upstream", fake_upstream.url,
                               "--no-log")
    out = b"".join(proc.lines).decode()
    port = proc.url.rsplit(":", 1)[1]
    assert f"listening on http://0.0.0.0:{port}" in out
    assert f"export ANTHROPIC_BASE_URL=http://127.0.0.1:{port}" in out
    assert await proc.stop() == 0


async def test_one_access_line_per_request_unless_quiet(serve_process, fake_upstream: FakeAnthropic):
    loud = await serve_process("--upstream", fake_upstream.url, "--no-log")
    quiet = await serve_process("--upstream", fake_upstream.url, "--no-log", "--quiet")
    async with aiohttp.ClientSession() as client:
        for proc in (loud, quiet):
            async with client.post(proc.url + "/v1/messages", data=b'{"model":"m"}') as resp:
                await resp.read()
            async with client.get(proc.url + "/v1/../etc") as resp:
                assert resp.status in (400, 404)
    assert await loud.stop(signal.SIGTERM) == 0 and await quiet.stop(signal.SIGTERM) == 0
    lines = [line for line in loud.stderr.decode().splitlines()
             if "claude_proxy.access" in line and "/health" not in line]  # the start-up probe has its own
    assert len(lines) == 2 and '127.0.0.1 "POST /v1/messages HTTP/1.1" 200' in lines[0], loud.stderr.decode()
    assert "claude_proxy.access" not in quiet.stderr.decode()


async def test_access_lines_are_written_in_batches_yet_within_seconds(serve_process, fake_upstream: FakeAnthropic):
    proc = await serve_process("--upstream", fake_upstream.url, "--no-log")
    async with aiohttp.ClientSession() as client:
        for n in range(20):
            async with client.post(proc.url + "/v1/messages", data=b'{"model":"m%d"}' % n) as resp:
                await resp.read()
    deadline = time.monotonic() + 5  # the buffer is written at least every second, the server still running
    posts = 0
    while time.monotonic() < deadline and posts < 20:
        posts = proc.stderr_so_far().decode().count('"POST /v1/messages HTTP/1.1" 200')
        await asyncio.sleep(0.1)
    assert posts == 20, proc.stderr_so_far().decode()
    assert await proc.stop(signal.SIGTERM) == 0
    assert proc.stderr.decode().count('"POST /v1/messages HTTP/1.1" 200') == 20  # nothing written twice
