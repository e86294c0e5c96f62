"""End to end: a real `claude-proxy serve` child writes the log; SIGTERM loses nothing; `logs` reads it."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import anthropic
import pytest

from tests.requestlog.conftest import KEY, read_rows
from tests.support.fake_anthropic import FakeAnthropic, Reply, split_events
from tests.support.proxy_process import ServeProcess

pytestmark = pytest.mark.processes


@pytest.fixture
async def fake_upstream(fixtures_dir: Path):
    fake = await FakeAnthropic(fixtures_dir / "anthropic").start()
    yield fake
    await fake.close()


async def test_every_exchange_survives_sigterm_with_usage_and_masked_key(
        fake_upstream: FakeAnthropic, fixtures_dir: Path, cli: list[str], cli_env: dict[str, str],
        tmp_path: Path) -> None:
    db = tmp_path / "requests.db"
    config = tmp_path / "no-retries.yaml"
    config.write_text("upstream:\n  retries: 0\n")  # the 529 below must reach the client as is
    proc = await ServeProcess(["--upstream", fake_upstream.url, "--log-db", str(db), "--config", str(config)],
                              cli_env, cwd=tmp_path).start()
    try:
        client = anthropic.AsyncAnthropic(base_url=proc.url, api_key=KEY, max_retries=0)
        ask = {"model": "test-model", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}

        raw = await client.messages.with_raw_response.create(**ask)
        plain_id = raw.headers["x-claude-proxy-id"]
        assert (await raw.parse()).content[0].text == "Hello!"

        fake_upstream.enqueue(Reply.fixture("anthropic-stream-tool-use.sse"))
        async with client.messages.stream(**ask) as stream:
            final = await stream.get_final_message()
        assert final.stop_reason == "tool_use"

        fake_upstream.enqueue(Reply.json({"type": "error", "error": {"type": "overloaded_error",
                                                                     "message": "Overloaded"}}, status=529))
        with pytest.raises(anthropic.APIStatusError) as failed:
            await client.messages.create(**ask)
        assert failed.value.status_code == 529

        text = (fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes()
        fake_upstream.enqueue(Reply(200, split_events(text)[:5], {"Content-Type": "text/event-stream"}, then="die"))
        with pytest.raises(anthropic.APIError):
            async with client.messages.stream(**ask) as stream:
                await stream.get_final_message()
        await client.close()
    finally:
        assert await proc.stop(signal.SIGTERM) == 0
    assert b"Traceback" not in proc.stderr

    rows = {r["id"]: r for r in read_rows(db)}
    assert len(rows) == 4
    plain = rows[plain_id]
    assert (plain["status"], plain["stream"], plain["input_tokens"], plain["output_tokens"]) == (200, 0, 12, 6)
    streamed = next(r for r in rows.values() if r["stop_reason"] == "tool_use")
    assert streamed["stream"] == 1 and (streamed["input_tokens"], streamed["output_tokens"]) == (472, 89)
    assert json.loads(streamed["message"])["content"][1]["input"] == {"location": "San Francisco, CA",
                                                                      "unit": "fahrenheit"}
    assert streamed["ttfb_ms"] is not None and streamed["duration_ms"] >= streamed["ttfb_ms"]
    overloaded = next(r for r in rows.values() if r["status"] == 529)
    assert overloaded["error"].startswith("overloaded_error")
    died = next(r for r in rows.values() if r["status"] == 200 and r["stream"] and r["id"] != streamed["id"])
    assert json.loads(died["message"])["content"][0]["text"] == "Hello!", "what arrived before the upstream died"
    assert died["error"]
    for row in rows.values():
        assert row["requested_model"] == "test-model"
        headers = json.loads(row["request_headers"])
        sent = headers.get("x-api-key") or headers.get("authorization")  # the SDK version decides which
        assert sent in ("****WXYZ", "Bearer ****WXYZ"), headers
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("requests.db"))
    assert KEY.encode() not in blob and KEY[:-4].encode() not in blob

    listed = subprocess.run(cli + ["logs", "list", "--json", "--log-db", str(db)], env=cli_env,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert {r["id"] for r in json.loads(listed.stdout)} == set(rows)


async def test_a_stream_longer_than_the_body_cap_keeps_its_usage(
        fake_upstream: FakeAnthropic, fixtures_dir: Path, cli_env: dict[str, str], tmp_path: Path) -> None:
    db = tmp_path / "requests.db"
    settings = tmp_path / "settings.yaml"
    settings.write_text("log:\n  max_body_bytes: 300\n")
    stream = (fixtures_dir / "anthropic" / "anthropic-stream-tool-use.sse").read_bytes()
    assert b"message_delta" not in stream[:301], "the usage must lie past the cap for this test to mean anything"
    proc = await ServeProcess(["--config", str(settings), "--upstream", fake_upstream.url, "--log-db", str(db)],
                              cli_env, cwd=tmp_path).start()
    try:
        client = anthropic.AsyncAnthropic(base_url=proc.url, api_key=KEY, max_retries=0)
        fake_upstream.enqueue(Reply.fixture("anthropic-stream-tool-use.sse"))
        async with client.messages.stream(model="test-model", max_tokens=64,
                                          messages=[{"role": "user", "content": "hi"}]) as reply:
            final = await reply.get_final_message()
        await client.close()
    finally:
        assert await proc.stop(signal.SIGTERM) == 0
    assert final.stop_reason == "tool_use"
    (row,) = read_rows(db)
    assert row["response_truncated"] == 1
    assert len(row["response_body"]) <= 300
    assert (row["stop_reason"], row["output_tokens"]) == ("tool_use", 89), "usage comes from the kept tail"
    assert row["response_bytes"] == len(stream)


async def test_a_compressed_answer_is_logged_readable_with_its_usage(
        fake_upstream: FakeAnthropic, fixtures_dir: Path, cli_env: dict[str, str], tmp_path: Path) -> None:
    import gzip

    db = tmp_path / "requests.db"
    answer = (fixtures_dir / "anthropic" / "anthropic-response-message-text.json").read_bytes()
    fake_upstream.enqueue(Reply.raw(gzip.compress(answer), headers={"content-type": "application/json",
                                                                    "content-encoding": "gzip"}))
    proc = await ServeProcess(["--upstream", fake_upstream.url, "--log-db", str(db)], cli_env, cwd=tmp_path).start()
    try:
        client = anthropic.AsyncAnthropic(base_url=proc.url, api_key=KEY, max_retries=0)
        message = await client.messages.create(model="test-model", max_tokens=64,
                                               messages=[{"role": "user", "content": "hi"}])
        await client.close()
    finally:
        assert await proc.stop(signal.SIGTERM) == 0
    expected = json.loads(answer)
    assert message.usage.output_tokens == expected["usage"]["output_tokens"]
    (row,) = read_rows(db)
    assert row["output_tokens"] == expected["usage"]["output_tokens"]
    assert json.loads(row["response_body"]) == expected, "stored as the client read it, not as gzip bytes"
    assert json.loads(row["message"])["content"] == expected["content"]
