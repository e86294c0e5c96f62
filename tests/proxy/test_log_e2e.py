"""End to end through the real SQLite request log: the rows a user finds after using the proxy."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import aiohttp
import anthropic
import pytest

from claude_proxy.requestlog.writer import SqliteRequestLog
from tests.requestlog.conftest import read_rows as rows
from tests.support.fake_anthropic import Reply, split_events
from tests.support.proxy_process import ServeProcess

MESSAGES = [{"role": "user", "content": "Hello"}]
CLIENT_KEY = "sk-ant-api03-clientSECRETvalue-7f3a"
UPSTREAM_KEY = "sk-ant-api03-configuredSECRET-9d2c"
# The DeprecationWarning filter: the SDK warns about the model names in the fixtures.
pytestmark = [pytest.mark.processes, pytest.mark.filterwarnings("ignore::DeprecationWarning")]



async def test_sdk_calls_become_rows_with_usage_and_the_proxy_id(start_proxy, make_settings, fake_upstream, tmp_path):
    db = tmp_path / "requests.db"
    server = await start_proxy(make_settings(), SqliteRequestLog(db))
    async with anthropic.AsyncAnthropic(base_url=server.url, api_key=CLIENT_KEY, max_retries=0) as sdk:
        raw = await sdk.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES)
        plain_id = raw.headers["x-claude-proxy-id"]
        async with sdk.messages.stream(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES) as stream:
            await stream.get_final_message()
            stream_id = stream.response.headers["x-claude-proxy-id"]
    await server.stop()  # drains the log

    plain, streamed = rows(db)
    assert plain["id"] == plain_id and streamed["id"] == stream_id
    assert (plain["stream"], plain["status"], plain["input_tokens"], plain["output_tokens"]) == (0, 200, 12, 6)
    assert plain["requested_model"] == "claude-sonnet-4-5" and plain["stop_reason"] == "end_turn"
    assert (streamed["stream"], streamed["input_tokens"], streamed["output_tokens"]) == (1, 25, 15)
    assert streamed["response_body"] == (Path(fake_upstream.folder) / "anthropic-stream-basic-text.sse").read_text()
    assert "Hello!" in streamed["message"]
    for row in (plain, streamed):
        assert CLIENT_KEY not in row["request_headers"]
        assert CLIENT_KEY[-4:] in row["request_headers"]
        assert row["ttfb_ms"] is not None and row["duration_ms"] >= row["ttfb_ms"]


async def test_injected_key_is_masked_in_the_stored_headers(start_proxy, make_settings, fake_upstream, tmp_path):
    db = tmp_path / "requests.db"
    server = await start_proxy(make_settings(upstream={"base_url": fake_upstream.url, "api_key": UPSTREAM_KEY}),
                               SqliteRequestLog(db))
    async with aiohttp.ClientSession() as client:
        async with client.get(server.url + "/v1/models") as resp:
            await resp.read()
    await server.stop()
    assert fake_upstream.received[-1].headers["x-api-key"] == UPSTREAM_KEY
    (row,) = rows(db)
    headers = json.loads(row["request_headers"])
    stored = {k.lower(): v for k, v in headers.items()}["x-api-key"]
    assert UPSTREAM_KEY not in row["request_headers"] and stored.endswith(UPSTREAM_KEY[-4:])


async def test_a_stream_past_the_body_cap_keeps_its_usage(start_proxy, make_settings, fake_upstream, fixtures_dir,
                                                          tmp_path):
    db = tmp_path / "requests.db"
    fixture = (fixtures_dir / "anthropic" / "anthropic-stream-tool-use.sse").read_bytes()
    fake_upstream.enqueue(Reply.fixture("anthropic-stream-tool-use.sse"))
    settings = make_settings(log={"enabled": True, "max_body_bytes": 300})
    server = await start_proxy(settings, SqliteRequestLog.from_settings(settings.log, db))
    async with aiohttp.ClientSession() as client:
        async with client.post(server.url + "/v1/messages", data=b'{"model":"m","stream":true}') as resp:
            assert await resp.read() == fixture
    await server.stop()
    (row,) = rows(db)
    assert row["response_truncated"] == 1 and row["response_bytes"] == len(fixture)
    assert len(row["response_body"]) <= 301
    assert row["output_tokens"] == 89 and row["stop_reason"] == "tool_use"


async def test_mid_stream_death_row_keeps_what_was_received(start_proxy, make_settings, fake_upstream, fixtures_dir,
                                                            tmp_path):
    db = tmp_path / "requests.db"
    events = split_events((fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes())
    fake_upstream.enqueue(Reply.sse(events[:4], then="die"))
    server = await start_proxy(make_settings(), SqliteRequestLog(db))
    async with aiohttp.ClientSession() as client:
        async with client.post(server.url + "/v1/messages", data=b'{"model":"m","stream":true}') as resp:
            await resp.read()
    await server.stop()
    (row,) = rows(db)
    assert row["response_body"].encode() == b"".join(events[:4])
    assert "middle of the response" in row["error"]


async def test_rows_survive_sigterm_of_a_real_serve_process(serve_process, fake_upstream, tmp_path):
    db = tmp_path / "serve.db"
    proc = await serve_process("--upstream", fake_upstream.url, "--log-db", str(db))
    ids = []
    async with aiohttp.ClientSession() as client:
        for stream in (False, True, False):
            body = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 8, "stream": stream,
                               "messages": MESSAGES}).encode()
            async with client.post(proc.url + "/v1/messages", data=body, headers={"x-api-key": CLIENT_KEY}) as resp:
                await resp.read()
                ids.append(resp.headers["x-claude-proxy-id"])
    assert await proc.stop(signal.SIGTERM) == 0
    found = rows(db)
    assert [r["id"] for r in found] == ids
    assert [r["stream"] for r in found] == [0, 1, 0]
    assert all(r["output_tokens"] for r in found)
    assert all(CLIENT_KEY not in r["request_headers"] for r in found)


async def test_unusable_log_file_is_one_clear_line(cli, cli_env, tmp_path):
    import subprocess

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    result = subprocess.run([*cli, "serve", "--port", "0", "--log-db", str(blocker / "requests.db")],
                            env=cli_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("claude-proxy: error: cannot open the request log")
    assert "Traceback" not in result.stderr


def _log_writer_of(pid: int) -> int:
    """The pid of ``serve``'s request-log writer process (a child running claude_proxy.requestlog.child)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"claude_proxy.requestlog.child" in cmdline:
            return int(entry)
    raise AssertionError(f"no log writer process under pid {pid}")


async def _ready(client: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    async with client.get(url + "/health/ready") as resp:
        return resp.status, await resp.json()


async def test_ctrl_c_to_the_whole_process_group_loses_no_row(fake_upstream, fixtures_dir, cli_env, tmp_path):
    """Ctrl-C reaches every process of the foreground group; a stream still in flight finishes and is logged."""
    db = tmp_path / "serve.db"
    proc = await ServeProcess(["--upstream", fake_upstream.url, "--log-db", str(db)], cli_env, cwd=tmp_path,
                              new_session=True).start()
    ids = []
    async with aiohttp.ClientSession() as client:
        for i in range(20):
            body = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 8, "stream": i % 2 == 1,
                               "messages": MESSAGES}).encode()
            async with client.post(proc.url + "/v1/messages", data=body, headers={"x-api-key": CLIENT_KEY}) as resp:
                await resp.read()
                ids.append(resp.headers["x-claude-proxy-id"])
        events = split_events((fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes())
        fake_upstream.enqueue(Reply.sse(events, delay=0.1))
        body = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 8, "stream": True, "messages": MESSAGES})
        async with client.post(proc.url + "/v1/messages", data=body.encode(),
                               headers={"x-api-key": CLIENT_KEY}) as resp:
            ids.append(resp.headers["x-claude-proxy-id"])
            first = await resp.content.readline()
            stopping = asyncio.ensure_future(proc.stop(signal.SIGINT, group=True))
            rest = await resp.read()
    assert await stopping == 0
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    assert b"message_stop" in first + rest, "the in-flight stream was finished, not cut"
    found = rows(db)
    assert sorted(r["id"] for r in found) == sorted(ids)
    assert all(r["status"] == 200 and r["output_tokens"] for r in found)
    assert all(CLIENT_KEY not in r["request_headers"] for r in found)


async def test_a_killed_log_writer_is_restarted_and_readiness_stays_up(fake_upstream, cli_env, tmp_path):
    db = tmp_path / "serve.db"
    proc = await ServeProcess(["--upstream", fake_upstream.url, "--log-db", str(db)], cli_env, cwd=tmp_path).start()
    body = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": MESSAGES}).encode()
    try:
        async with aiohttp.ClientSession() as client:
            async with client.post(proc.url + "/v1/messages", data=body, headers={"x-api-key": CLIENT_KEY}) as resp:
                assert resp.status == 200
            status, ready = await _ready(client, proc.url)
            assert status == 200 and ready["log"]["healthy"] is True, ready
            for _ in range(200):  # written within ~0.1 s: the feeder's and the writer's gathering
                if rows(db):
                    break
                await asyncio.sleep(0.05)

            first = _log_writer_of(proc.proc.pid)
            os.kill(first, signal.SIGKILL)
            status, ready = await _ready(client, proc.url)
            assert status == 200, "a logging fault does not take the instance out of rotation"
            for _ in range(3):  # still serving; the entries wait for the next writer
                async with client.post(proc.url + "/v1/messages", data=body,
                                       headers={"x-api-key": CLIENT_KEY}) as resp:
                    assert resp.status == 200 and (await resp.json())["content"]
            for _ in range(200):
                if len(rows(db)) == 4:
                    break
                await asyncio.sleep(0.05)
            assert len(rows(db)) == 4, "the writer came back and wrote what waited"
            assert _log_writer_of(proc.proc.pid) not in (first, None)
            async with client.get(proc.url + "/health") as resp:
                assert (await resp.json())["status"] == "ok"
    finally:
        assert await proc.stop(signal.SIGTERM) == 0
    errors = [line for line in proc.stderr.decode().splitlines() if "writer process" in line]
    assert len(errors) == 1 and "ERROR" in errors[0] and "killed by SIGKILL" in errors[0], proc.stderr.decode()


async def test_with_log_required_a_dead_writer_takes_the_instance_out_of_rotation(fake_upstream, cli_env, tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text("log:\n  required: true\n")
    proc = await ServeProcess(["--upstream", fake_upstream.url, "--log-db", str(tmp_path / "serve.db"),
                               "--config", str(config)], cli_env, cwd=tmp_path).start()
    try:
        async with aiohttp.ClientSession() as client:
            assert (await _ready(client, proc.url))[0] == 200
            with open(tmp_path / "serve.db", "ab"):
                pass
            writer = _log_writer_of(proc.proc.pid)
            os.kill(writer, signal.SIGSTOP)  # alive but stuck: nothing written, the queue fills
            os.kill(writer, signal.SIGKILL)
            seen = []
            for _ in range(100):
                status, ready = await _ready(client, proc.url)
                seen.append(status)
                if status == 503:
                    break
                await asyncio.sleep(0.01)
            assert 503 in seen and "log.required" in " ".join(ready["problems"]), ready
            for _ in range(200):
                if (await _ready(client, proc.url))[0] == 200:
                    break
                await asyncio.sleep(0.05)
            assert (await _ready(client, proc.url))[0] == 200, "back in rotation once the writer is back"
    finally:
        assert await proc.stop(signal.SIGTERM) == 0
