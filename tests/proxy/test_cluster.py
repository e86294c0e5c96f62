"""Three `serve` instances behind nginx, sharing one Postgres log and one Redis: what a team runs across machines.

Real parts only: Debian's nginx (round-robin upstream), PostgreSQL and redis-server on free
loopback ports, three `claude-proxy serve` subprocesses and the official SDK as a client.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.support import coding_session
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.proxy_process import ServeProcess
from tests.support.services import NginxServer, PostgresServer, RedisServer

pytestmark = pytest.mark.processes
LIMIT = 20  # per key per minute, across the whole cluster


def _count(url: str, sql: str, params: tuple[Any, ...] = ()) -> int:
    import psycopg

    with psycopg.connect(url, connect_timeout=3) as conn:
        return int(conn.execute(sql, params).fetchone()[0])


async def _requests_by_instance(http: aiohttp.ClientSession, instances: list[ServeProcess]) -> list[float]:
    counts = []
    for proc in instances:
        async with http.get(proc.url + "/metrics") as resp:
            text = await resp.text()
        counts.append(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                          if line.startswith("claude_proxy_requests_total{")))
    return counts


async def _wait(predicate: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(0.25)
    return False


@pytest.fixture
async def cluster(tmp_path: Path, cli_env: dict[str, str], fixtures_dir: Path):
    postgres = PostgresServer().start()
    redis = RedisServer(tmp_path / "redis").start()
    fake = await FakeAnthropic(fixtures_dir / "anthropic").start()
    log_url = postgres.create_database("team_log")
    config = tmp_path / "team.yaml"
    config.write_text(yaml.safe_dump({
        "upstream": {"base_url": fake.url, "retries": 0},
        "log": {"url": log_url},
        "limits": {"shared_state": redis.url, "requests_per_minute": LIMIT},
    }))
    instances: list[ServeProcess] = []
    nginx = None
    try:
        for _ in range(3):
            instances.append(await ServeProcess(["--config", str(config)], cli_env, cwd=tmp_path).start())
        nginx = NginxServer(tmp_path / "nginx", [p.url.removeprefix("http://") for p in instances]).start()
        yield {"nginx": nginx, "instances": instances, "log": log_url, "fake": fake, "postgres": postgres,
               "redis": redis, "config": config}
    finally:
        for proc in instances:
            await proc.kill()
        if nginx is not None:
            nginx.stop()
        await fake.close()
        redis.stop()
        postgres.remove()


async def test_three_instances_one_log_one_limit_one_session(cluster, cli, cli_env) -> None:
    nginx, instances, log_url = cluster["nginx"], cluster["instances"], cluster["log"]
    sent = 0
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession() as http:
        semaphore = asyncio.Semaphore(12)

        async def one(n: int, key: str) -> None:
            nonlocal sent
            body = {"model": "claude-sonnet-4-5", "max_tokens": 16, "stream": n % 3 == 0,
                    "messages": [{"role": "user", "content": f"request {n}"}]}
            async with semaphore:
                async with http.post(nginx.url + "/v1/messages", json=body, headers={"x-api-key": key}) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                    sent += 1

        # 300 requests from 30 clients, 10 each: under every client's limit, spread over the three instances
        await asyncio.wait_for(asyncio.gather(*(one(n, f"sk-ant-client-{n % 30:04d}") for n in range(300))), 120)
        assert statuses == {200: 300}
        spread = await _requests_by_instance(http, instances)
        assert all(count >= 50 for count in spread), spread  # nginx spread them round-robin

        # one client over its limit: N admitted across the cluster, not 3N
        statuses.clear()
        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(one(1000 + n, "sk-ant-greedy-0001") for n in range(3 * LIMIT))), 60)
        refilled = int((time.monotonic() - started) * LIMIT / 60)  # the bucket refills as time passes
        assert LIMIT <= statuses[200] <= LIMIT + refilled, statuses
        assert statuses[200] + statuses[429] == 3 * LIMIT

        # a Claude Code session through the balancer: its turns land on different instances
        before = await _requests_by_instance(http, instances)
        coding_session.script(cluster["fake"])
        await asyncio.to_thread(coding_session.run_session, nginx.url)
        after = await _requests_by_instance(http, instances)
        assert sum(1 for b, a in zip(before, after, strict=True) if a > b) >= 2

    # every request is one row in the shared log (the refused ones too)
    assert await _wait(lambda: _count(log_url, "SELECT count(*) FROM requests") == sent + 5)
    assert _count(log_url, "SELECT count(DISTINCT id) FROM requests") == sent + 5
    assert _count(log_url, "SELECT count(*) FROM requests WHERE session_id = %s",
                  (coding_session.SESSION,)) == 5

    # the log shows one session of five turns, from the CLI and from the viewer of any instance
    done = await asyncio.create_subprocess_exec(*cli, "logs", "sessions", "--log-db", log_url, "--json",
                                                env=cli_env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await done.communicate()
    assert done.returncode == 0, err
    sessions = {s["session_id"]: s for s in json.loads(out)}
    assert sessions[coding_session.SESSION]["requests"] == 5
    async with aiohttp.ClientSession() as http:
        for proc in instances:
            async with http.get(f"{proc.url}/ui/sessions/{coding_session.SESSION}") as resp:
                page = await resp.text()
                assert resp.status == 200 and page.count('class="turn"') == 5


async def test_postgres_stopped_for_ten_seconds_under_load_loses_nothing(cluster) -> None:
    nginx, log_url, postgres = cluster["nginx"], cluster["log"], cluster["postgres"]
    completed = 0
    async with aiohttp.ClientSession() as http:
        async def load(seconds: float, key_base: int) -> None:
            nonlocal completed
            end, n = time.monotonic() + seconds, 0
            while time.monotonic() < end:
                body = {"model": "claude-sonnet-4-5", "max_tokens": 16, "stream": n % 2 == 0,
                        "messages": [{"role": "user", "content": f"under load {key_base + n}"}]}
                async with http.post(nginx.url + "/v1/messages", json=body,
                                     headers={"x-api-key": f"sk-ant-load-{key_base + n:06d}"}) as resp:
                    await resp.read()
                    assert resp.status == 200
                completed += 1
                n += 1

        await load(1.0, 0)
        await asyncio.to_thread(postgres.stop)
        await load(10.0, 10_000)
        await asyncio.to_thread(postgres.start)
        await load(1.0, 20_000)
    assert await _wait(lambda: _count(log_url, "SELECT count(*) FROM requests") >= completed, timeout=60)
    assert _count(log_url, "SELECT count(*) FROM requests") == completed
