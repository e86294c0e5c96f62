"""`serve --workers 2`: two processes share the port and the request log, and stop together."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
from pathlib import Path

import aiohttp
import anthropic
import pytest

from tests.support.fake_anthropic import FakeAnthropic
from tests.support.signals import alive

pytestmark = [pytest.mark.processes, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


async def _pids_answering(url: str, connections: int = 40) -> set[int]:
    """Which worker answered each of `connections` fresh connections (the kernel spreads them)."""
    pids: set[int] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        for _ in range(connections):
            async with session.get(url + "/health") as resp:
                pids.add((await resp.json())["pid"])
    return pids


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_two_workers_answer_log_to_one_file_and_stop_together(
        serve_process, fake_upstream: FakeAnthropic, tmp_path: Path, sig: signal.Signals) -> None:
    db = tmp_path / "requests.db"
    proxy = await serve_process("--upstream", fake_upstream.url, "--workers", "2", "--log-db", str(db))

    workers = await _pids_answering(proxy.url)
    assert len(workers) == 2 and proxy.proc.pid not in workers

    sdk = anthropic.AsyncAnthropic(base_url=proxy.url, api_key="sk-ant-test-key-abcd", max_retries=0)
    for _ in range(12):
        message = await sdk.messages.create(model="claude-sonnet-4-5", max_tokens=64,
                                            messages=[{"role": "user", "content": "Hello"}])
        assert message.content[0].text == "Hello!"
    await sdk.close()

    assert await proxy.stop(sig) == 0
    assert b"claude-proxy stopped" in proxy.stdout
    assert not [pid for pid in workers if alive(pid)]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT count(*) FROM requests WHERE path = '/v1/messages' AND status = 200").fetchone()
    assert rows[0] == 12


def test_workers_on_a_busy_port_fail_with_one_line(cli: list[str], cli_env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([*cli, "serve", "--workers", "2", "--port", str(port), "--no-log"], env=cli_env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        f"claude-proxy: error: cannot listen on 127.0.0.1:{port}: address already in use"]


async def test_workers_do_not_outlive_a_killed_supervisor(serve_process, fake_upstream: FakeAnthropic) -> None:
    proxy = await serve_process("--upstream", fake_upstream.url, "--workers", "2", "--no-log")
    workers = await _pids_answering(proxy.url)
    assert len(workers) == 2
    assert await proxy.stop(signal.SIGKILL) == -signal.SIGKILL
    for _ in range(200):
        if not [pid for pid in workers if alive(pid)]:
            break
        await asyncio.sleep(0.05)
    assert not [pid for pid in workers if alive(pid)]


async def test_a_killed_worker_is_replaced_and_the_port_keeps_serving(
        serve_process, fake_upstream: FakeAnthropic) -> None:
    proxy = await serve_process("--upstream", fake_upstream.url, "--workers", "2", "--no-log")
    workers = await _pids_answering(proxy.url)
    assert len(workers) == 2
    victim = sorted(workers)[0]
    os.kill(victim, signal.SIGKILL)
    failures = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as client:
        for _ in range(40):  # meanwhile every request is answered, by the survivor or the new worker
            try:
                async with client.get(proxy.url + "/health") as resp:
                    failures += resp.status != 200
            except aiohttp.ClientConnectionError:
                failures += 1
            await asyncio.sleep(0.05)
    assert failures == 0
    now = await _pids_answering(proxy.url)
    assert victim not in now and len(now) == 2, now
    assert await proxy.stop(signal.SIGTERM) == 0
    stderr = proxy.stderr.decode()
    assert f"worker pid {victim} was killed by SIGKILL; started worker pid" in stderr, stderr
    assert "code None" not in stderr
