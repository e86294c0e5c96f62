"""A real `serve` with its log, a Claude-Code-shaped session sent through it, and a browser."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.support import coding_session
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.proxy_process import ServeProcess


async def wait_rows(url: str, session: str, rows: int, timeout: float = 20.0) -> None:
    """Until the viewer sees ``rows`` rows of ``session`` (the log writes in batches, off the request path)."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(f"{url}/ui/sessions/{session}/version") as resp:
                if resp.status == 200 and (await resp.json())["rows"] >= rows:
                    return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the log did not show {rows} rows of {session} within {timeout}s")
            await asyncio.sleep(0.2)


@pytest.fixture
async def served_session(cli_env: dict[str, str], tmp_path: Path, fixtures_dir: Path):
    """(serve process, log path, fake upstream) after the coding session went through the proxy."""
    fake = await FakeAnthropic(fixtures_dir / "anthropic").start()
    coding_session.script(fake)
    db = tmp_path / "log.db"
    proc = await ServeProcess(["--upstream", fake.url, "--log-db", str(db)], cli_env, cwd=tmp_path).start()
    try:
        await asyncio.to_thread(coding_session.run_session, proc.url)
        await wait_rows(proc.url, coding_session.SESSION, 5)
        yield proc, db, fake
    finally:
        await proc.kill()
        await fake.close()


@pytest.fixture
def browser():
    from tests.support.browser import chromium

    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture
async def fake_upstream(fixtures_dir: Path):
    fake = await FakeAnthropic(fixtures_dir / "anthropic").start()
    yield fake
    await fake.close()
