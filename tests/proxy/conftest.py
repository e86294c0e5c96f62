"""Fixtures for proxy tests: a fake Anthropic upstream, the proxy in-process, a real subprocess.

- ``fake_upstream``: a started `FakeAnthropic` (tests/support/fake_anthropic.py).
- ``make_settings(**sections)``: `Settings` aimed at the fake upstream, any section overridden,
  e.g. ``make_settings(rewrite={"drop": ["metadata"]})``.
- ``start_proxy(settings=None, request_log=None)``: the real server (`start_server`) on a
  free 127.0.0.1 port; returns a `RunningServer` (``.url``); stopped after the test.
- ``proxy``: ``start_proxy()`` with the defaults.
- ``serve_process(*args, config=None)``: a real ``claude-proxy serve`` child (see
  tests/support/proxy_process.py), killed after the test if still running.
- ``raw_upstream(script=reply(response()), tls=None)``: a started `RawUpstream`
  (tests/support/raw_upstream.py) for byte-level upstream answers; closed after the test.
- ``make_pool(url, **options)``: an `http1.ConnectionPool` to ``url`` (2 s timeouts, limit 10
  unless given); closed after the test.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
import yaml
from yarl import URL

from claude_proxy.proxy.server import RunningServer, start_server
from claude_proxy.proxy.upstream.http1 import ConnectionPool
from claude_proxy.requestlog.writer import SqliteRequestLog
from claude_proxy.settings import Settings, parse_settings
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.proxy_process import ServeProcess
from tests.support.raw_upstream import RawUpstream, Script, reply, response

MakeSettings = Callable[..., Settings]


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's ANTHROPIC_API_KEY must never reach a test's upstream."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("CLAUDE_PROXY_CONFIG", raising=False)


@pytest.fixture
async def fake_upstream(fixtures_dir: Path):
    fake = await FakeAnthropic(fixtures_dir / "anthropic").start()
    yield fake
    await fake.close()


@pytest.fixture
def make_settings(fake_upstream: FakeAnthropic) -> MakeSettings:
    def make(**sections: Any) -> Settings:
        # retries off: these tests pin what one upstream answer does; tests/proxy/faults covers retrying
        data: dict[str, Any] = {"upstream": {"base_url": fake_upstream.url, "retries": 0},
                                "log": {"enabled": False}}
        for name, value in sections.items():
            data[name] = {**data.get(name, {}), **value} if isinstance(value, dict) else value
        return parse_settings(data, "<test>")
    return make


@pytest.fixture
async def start_proxy(make_settings: MakeSettings):
    servers: list[RunningServer] = []

    async def start(settings: Settings | None = None, request_log: SqliteRequestLog | None = None) -> RunningServer:
        server = await start_server(settings or make_settings(), request_log, host="127.0.0.1", port=0)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def proxy(start_proxy: Callable[..., Awaitable[RunningServer]]) -> RunningServer:
    return await start_proxy()


@pytest.fixture
async def serve_process(cli_env: dict[str, str], tmp_path: Path):
    procs: list[ServeProcess] = []

    async def start(*args: str, config: dict[str, Any] | None = None) -> ServeProcess:
        extra = list(args)
        if config is not None:
            path = tmp_path / f"settings-{len(procs)}.yaml"
            path.write_text(yaml.safe_dump(config))
            extra += ["--config", str(path)]
        proc = await ServeProcess(extra, cli_env, cwd=tmp_path).start()
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        await proc.kill()


@pytest.fixture
async def raw_upstream():
    servers: list[RawUpstream] = []

    async def start(script: Script | None = None, tls: ssl.SSLContext | None = None) -> RawUpstream:
        server = await RawUpstream(script or reply(response()), tls).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def make_pool():
    pools: list[ConnectionPool] = []

    def make(url: str, **options: Any) -> ConnectionPool:
        pool = ConnectionPool(URL(url), **{"connect_timeout": 2.0, "read_timeout": 2.0, "limit": 10, **options})
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.close()
