"""`serve` writing its log to a real PostgreSQL: every request a row, content stored once, an outage survived."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from tests.support.proxy_process import ServeProcess
from tests.support.services import PostgresServer

pytestmark = pytest.mark.processes
BODY = {"model": "claude-sonnet-4-5", "max_tokens": 16, "system": "You are terse. " * 200,
        "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def fake_upstream(fixtures_dir: Path):
    from tests.support.fake_anthropic import FakeAnthropic

    fake = await FakeAnthropic(fixtures_dir / "anthropic").start()
    yield fake
    await fake.close()


@pytest.fixture(scope="module")
def postgres():
    server = PostgresServer().start()
    yield server
    server.remove()


def _count(url: str, sql: str) -> int:
    import psycopg

    with psycopg.connect(url, connect_timeout=3) as conn:
        return int(conn.execute(sql).fetchone()[0])


async def _send(http: aiohttp.ClientSession, url: str, n: int, stream: bool = False) -> int:
    async with http.post(url + "/v1/messages", json={**BODY, "stream": stream,
                                                     "messages": [{"role": "user", "content": f"question {n}"}]},
                         headers={"x-api-key": "sk-ant-pg-test-0001"}) as resp:
        await resp.read()
        return resp.status


async def _wait_rows(url: str, rows: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    found = 0
    while time.monotonic() < deadline:
        try:
            found = await asyncio.to_thread(_count, url, "SELECT count(*) FROM requests")
        except Exception:  # the server may be restarting
            found = 0
        if found >= rows:
            return found
        await asyncio.sleep(0.2)
    return found


async def test_serve_writes_each_request_once_and_shared_content_once(postgres, cli_env, tmp_path: Path,
                                                                      fake_upstream) -> None:
    url = postgres.create_database("serve_rows")
    proc = await ServeProcess(["--upstream", fake_upstream.url, "--log-db", url], cli_env, cwd=tmp_path).start()
    assert any(b"request log: postgresql://postgres@127.0.0.1" in line for line in proc.lines)
    async with aiohttp.ClientSession() as http:
        statuses = [await _send(http, proc.url, n, stream=n % 2 == 0) for n in range(30)]
    assert statuses == [200] * 30
    assert await proc.stop() == 0
    assert _count(url, "SELECT count(*) FROM requests") == 30
    assert _count(url, "SELECT count(*) FROM requests WHERE request_recipe IS NULL") == 0
    # the 2.8 KB system prompt is one content row, not thirty
    assert _count(url, "SELECT count(*) FROM content WHERE size > 2000") == 1
    assert _count(url, "SELECT count(*) FROM requests WHERE fts @@ phraseto_tsquery('simple', 'question 17')") == 1


async def test_a_postgres_outage_under_load_loses_no_completed_request(postgres, cli_env, tmp_path: Path,
                                                                       fake_upstream) -> None:
    server = PostgresServer().start()  # its own server: this test stops it
    try:
        url = server.create_database("outage")
        proc = await ServeProcess(["--upstream", fake_upstream.url, "--log-db", url], cli_env,
                                  cwd=tmp_path).start()
        completed = 0
        degraded_seen = False
        async with aiohttp.ClientSession() as http:
            async def load(seconds: float) -> None:
                nonlocal completed
                end = time.monotonic() + seconds
                n = 0
                while time.monotonic() < end:
                    status = await asyncio.wait_for(_send(http, proc.url, n, stream=n % 3 == 0), 10)
                    assert status == 200  # requests keep being served
                    completed += 1
                    n += 1
                    await asyncio.sleep(0.02)

            await load(1.0)
            await asyncio.to_thread(server.stop)
            await load(10.0)
            async with http.get(proc.url + "/health") as resp:
                health = await resp.json()
            degraded_seen = health["status"] == "degraded"
            await asyncio.to_thread(server.start)
            await load(1.0)
        assert degraded_seen, "a log that cannot be written must show in /health"
        assert await _wait_rows(url, completed) == completed
        assert await proc.stop() == 0
        assert _count(url, "SELECT count(*) FROM requests") == completed
        assert b"unreachable" in proc.stderr and b"resumed" in proc.stderr
    finally:
        server.remove()


def test_the_postgres_writer_applies_retention_by_itself(postgres) -> None:
    from claude_proxy.requestlog.entry import LogEntry, new_entry_id
    from claude_proxy.requestlog.pglog import PostgresRequestLog

    url = postgres.create_database("writer_retention")
    log = PostgresRequestLog(url)
    log.max_age_days, log.retention_first = 1.0, 0.3
    log.start()
    now = time.time()
    for age_days in (10, 5, 0.1, 0):
        log.record(LogEntry(id=new_entry_id(), started_at=now - age_days * 86400, method="POST",
                            path="/v1/messages", status=200, request_body=b'{"model":"m","messages":[]}'))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _count(url, "SELECT count(*) FROM requests") != 2:
        time.sleep(0.2)
    log.close()
    assert _count(url, "SELECT count(*) FROM requests") == 2  # the two older than a day are gone


def test_a_lost_insert_thread_is_counted_and_reported_never_waited_on(postgres) -> None:
    from claude_proxy.requestlog.entry import LogEntry, new_entry_id
    from claude_proxy.requestlog.pglog import PostgresRequestLog

    url = postgres.create_database("insert_thread_gone")
    log = PostgresRequestLog(url)
    log.start()

    def entry() -> LogEntry:
        return LogEntry(id=new_entry_id(), started_at=time.time(), method="POST", path="/v1/messages",
                        status=200, request_body=b'{"model":"m","messages":[]}')

    log.record(entry())
    deadline = time.monotonic() + 10
    while log.written < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    for _ in log._inserters:  # the insert threads end, as they would on an error they cannot survive
        log._handoff.put(None)
    for inserter in log._inserters:
        inserter.join(5)
    assert not log.healthy  # /health says so at once
    for _ in range(3):  # one batch may wait in the handoff; the next ones find no thread to take them
        for _ in range(5):
            log.record(entry())
        time.sleep(0.2)
    started = time.monotonic()
    log.close(timeout=5)
    assert time.monotonic() - started < 10
    assert log.written == 1
    assert log.lost + log.queue_depth == 15  # each later entry counted lost, or reported as never written
    assert _count(url, "SELECT count(*) FROM requests") == 1
