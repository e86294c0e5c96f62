"""The viewer's addresses without a browser: access keys, missing ids, `logs ui` on its own."""

from __future__ import annotations

import asyncio
import base64
import re

import aiohttp
import pytest
import yaml

from tests.support import coding_session
from tests.support.proxy_process import ServeProcess

pytestmark = pytest.mark.processes


async def test_unknown_ids_are_404_pages_and_bad_filters_400(served_session) -> None:
    proc, _, _ = served_session
    async with aiohttp.ClientSession() as http:
        async with http.get(proc.url + "/ui/sessions/nope-nope") as resp:
            assert resp.status == 404 and "no session" in await resp.text()
        async with http.get(proc.url + "/ui/turns/0000000000/raw") as resp:
            assert resp.status == 404
        async with http.get(proc.url + "/ui/?since=yesterdayish") as resp:
            assert resp.status == 400 and "since" in (await resp.text()).lower()
        async with http.get(proc.url + "/ui/static/../../settings.py") as resp:
            assert resp.status == 404


async def test_with_access_keys_the_viewer_asks_for_one(cli_env, tmp_path, fake_upstream) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"server": {"auth_keys": ["team-key-7f3a9c"]}}))
    proc = await ServeProcess(["--upstream", fake_upstream.url, "--log-db", str(tmp_path / "l.db"),
                               "--config", str(config)], cli_env, cwd=tmp_path).start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(proc.url + "/ui") as resp:
                assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Basic")
            wrong = base64.b64encode(b"me:not-the-key").decode()
            async with http.get(proc.url + "/ui", headers={"Authorization": f"Basic {wrong}"}) as resp:
                assert resp.status == 401
            right = base64.b64encode(b"anyone:team-key-7f3a9c").decode()
            async with http.get(proc.url + "/ui/usage", headers={"Authorization": f"Basic {right}"}) as resp:
                assert resp.status == 200 and "Usage" in await resp.text()
            async with http.get(proc.url + "/ui", headers={"x-api-key": "team-key-7f3a9c"}) as resp:
                assert resp.status == 200
    finally:
        await proc.kill()


async def test_logs_ui_serves_a_log_file_alone(served_session, cli, cli_env) -> None:
    proc, db, _ = served_session
    await proc.kill()  # no proxy running
    ui = await asyncio.create_subprocess_exec(*cli, "logs", "ui", "--log-db", str(db), "--port", "0", env=cli_env,
                                              stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert ui.stdout is not None
        line = (await asyncio.wait_for(ui.stdout.readline(), 30)).decode()
        url = re.search(r"(http://\S+/ui)", line).group(1)  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as resp:
                assert resp.status == 200 and coding_session.PROMPT in await resp.text()
    finally:
        ui.terminate()
        assert await asyncio.wait_for(ui.wait(), 10) is not None


async def test_logs_ui_on_a_missing_file_is_one_line(cli, cli_env, tmp_path) -> None:
    done = await asyncio.create_subprocess_exec(*cli, "logs", "ui", "--log-db", str(tmp_path / "none.db"),
                                                env=cli_env, stderr=asyncio.subprocess.PIPE)
    _, err = await done.communicate()
    assert done.returncode == 1
    assert err.decode().count("\n") == 1 and "no request log" in err.decode()
