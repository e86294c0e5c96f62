"""`claude-proxy logs ...` with ``--log-db postgresql://...`` (or ``log.url``): the same answers as on SQLite."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.requestlog.conftest import make_entry, write_entries, write_pg
from tests.requestlog.store.test_postgres import T0, _mixed, _rounded
from tests.support.proxy_process import ServeProcess
from tests.support.services import free_port

pytestmark = pytest.mark.processes


def run(cli: list[str], env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cli + list(args), env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def answers(cli: list[str], env: dict[str, str], target: str, *args: str) -> Any:
    result = run(cli, env, "logs", *args, "--json", "--log-db", target)
    assert result.returncode == 0, result.stderr
    return _rounded(json.loads(result.stdout))


@pytest.fixture
def both(pg_url: str, tmp_path: Path, fixtures_dir: Path) -> tuple[str, str, list[str]]:
    """(SQLite file, Postgres URL, entry ids) holding the same entries, streams and errors included."""
    entries = _mixed() + [
        make_entry(fixtures_dir, "anthropic-stream-tool-use.sse", started_at=T0 + 5 * 86400),
        make_entry(fixtures_dir, "anthropic-stream-extended-thinking.sse", started_at=T0 + 5 * 86400 + 1),
    ]
    db = tmp_path / "requests.db"
    write_entries(db, entries)
    write_pg(pg_url, entries)
    return str(db), pg_url, [e.id for e in entries]


def test_every_logs_command_answers_as_on_sqlite(cli: list[str], cli_env: dict[str, str],
                                                 both: tuple[str, str, list[str]]) -> None:
    db, url, ids = both
    asks = [
        ("list", "--limit", "50"), ("list", "--status", "error"), ("list", "--model", "opus"),
        ("list", "--session", "7f0c2a4e-1111-4a2b-9c3d-0123456789ab"),
        ("sessions",), ("sessions", "7f0c2a4e"), ("sessions", ids[4]),
        ("show", ids[1][:-3]), ("show", ids[-1]), ("show", ids[8]),
        ("search", "def f1(): pass"), ("search", "haiku"), ("search", "pass def"),
        ("stats",), ("stats", "--by", "day"), ("stats", "--by", "session"), ("stats", "--by", "key"),
    ]
    for ask in asks:
        assert answers(cli, cli_env, url, *ask) == answers(cli, cli_env, db, *ask), ask
    assert len(answers(cli, cli_env, url, "list", "--limit", "50")) == len(ids)
    shown = answers(cli, cli_env, url, "show", ids[-1])
    assert shown["stream"] is True and shown["response_body"].startswith("event: message_start")


def test_log_url_in_the_settings_and_prune(cli: list[str], cli_env: dict[str, str], tmp_path: Path,
                                           both: tuple[str, str, list[str]]) -> None:
    db, url, ids = both
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"log": {"path": str(tmp_path / "elsewhere.db"), "url": url,
                                              "retention": {"max_age_days": 1}}}))
    listed = run(cli, cli_env, "logs", "list", "--json", "--limit", "50", "--config", str(config))
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == len(ids), "log.url wins over log.path"
    pruned = run(cli, cli_env, "logs", "prune", "--json", "--config", str(config))
    assert pruned.returncode == 0, pruned.stderr
    result = json.loads(pruned.stdout)
    assert result["rows"] == len(ids) and result["content"] > 0, "every row is older than a day"
    on_sqlite = answers(cli, cli_env, db, "prune", "--older-than-days", "1")
    assert (on_sqlite["rows"], on_sqlite["content"]) == (result["rows"], result["content"])
    empty = run(cli, cli_env, "logs", "list", "--config", str(config))
    assert empty.returncode == 0 and "no matching requests" in empty.stdout


def test_an_unreachable_database_is_one_line_with_the_password_masked(cli: list[str],
                                                                      cli_env: dict[str, str]) -> None:
    url = f"postgresql://team:hunter2hunter2@127.0.0.1:{free_port()}/log"
    for args in (("list",), ("stats",), ("prune", "--older-than-days", "1"), ("ui",), ("export", "x", "--html")):
        result = run(cli, cli_env, "logs", *args, "--log-db", url)
        assert result.returncode == 1, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "hunter2hunter2" not in result.stderr, (args, result.stderr)
        assert "cannot open the request log at postgresql://team:****" in lines[0], lines
    port = free_port()
    for url in (f"postgresql://team:hunter2hunter2@[::1:{port}/log",  # too malformed to parse: quoted whole
                f"postgresql://127.0.0.1:{port}/log?user=team&password=hunter2hunter2",
                f"postgresql://team:hunter2hunter2@127.0.0.1:{port}/log?sslpassword=hunter2hunter2"):
        result = run(cli, cli_env, "logs", "list", "--log-db", url)
        assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, (url, result.stderr)
        assert "hunter2hunter2" not in result.stderr and "****" in result.stderr, (url, result.stderr)


def test_logs_ui_and_export_read_postgres(cli: list[str], cli_env: dict[str, str],
                                         both: tuple[str, str, list[str]]) -> None:
    _, url, ids = both
    exported = run(cli, cli_env, "logs", "export", ids[4], "--html", "--log-db", url)
    assert exported.returncode == 0 and "Write a haiku about Postgres" in exported.stdout
    proc = subprocess.Popen(cli + ["logs", "ui", "--log-db", url, "--port", "0"], env=cli_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "viewer for postgresql://" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        base = re.search(r"(http://\S+/ui)", line).group(1)  # type: ignore[union-attr]
        with urllib.request.urlopen(base + "/", timeout=30) as resp:
            page = resp.read().decode()
        assert "Write a haiku about Postgres" in page and "Fix the failing test" in page
        with urllib.request.urlopen(f"{base}/sessions/{ids[7]}", timeout=30) as resp:
            session = resp.read().decode()
        assert "Refactor open_log" in session and "find callers" in session
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_logs_commands_load_psycopg_only_for_postgres(cli_env: dict[str, str]) -> None:
    code = ("import sys, claude_proxy.cli.logs, claude_proxy.requestlog.store.targets; "
            "sys.exit('psycopg' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], env=cli_env, timeout=60).returncode == 0


async def serve_reading(url: str, tmp_path: Path, env: dict[str, str]) -> ServeProcess:
    """A started ``serve`` whose settings point its log (and viewer) at ``url``; no upstream behind it."""
    config = tmp_path / "serve.yaml"
    config.write_text(yaml.safe_dump({"log": {"url": url, "path": str(tmp_path / "unused.db")}}))
    return await ServeProcess(["--upstream", "http://127.0.0.1:9", "--config", str(config)], env,
                              cwd=tmp_path).start()


async def test_the_viewer_under_serve_reads_log_url(cli_env: dict[str, str], tmp_path: Path,
                                                    both: tuple[str, str, list[str]]) -> None:
    import aiohttp


    _, url, ids = both
    proc = await serve_reading(url, tmp_path, cli_env)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{proc.url}/ui/") as resp:
                assert resp.status == 200 and "Write a haiku about Postgres" in await resp.text()
            async with http.get(f"{proc.url}/ui/sessions/{ids[7]}") as resp:
                assert resp.status == 200 and "Refactor open_log" in await resp.text()
    finally:
        await proc.kill()


async def test_the_viewer_says_503_while_postgres_is_down(cli_env: dict[str, str], tmp_path: Path) -> None:
    """A database that cannot be reached is the server's trouble, not the page's address: a 503 that says
    so (the password masked), then the pages again once it is back."""
    import aiohttp

    from tests.support.services import PostgresServer

    server = PostgresServer().start()
    try:
        url = server.create_database("viewer").replace("postgres@", "postgres:s3cret-pw@")
        entries = _mixed()
        write_pg(url, entries)
        session = entries[7].id
        proc = await serve_reading(url, tmp_path, cli_env)
        try:
            async with aiohttp.ClientSession() as http:
                server.stop()
                for page in ("/ui/", f"/ui/sessions/{session}", f"/ui/turns/{entries[0].id}", "/ui/usage"):
                    async with http.get(f"{proc.url}{page}") as resp:
                        text = await resp.text()
                        assert resp.status == 503, (page, resp.status, text[:300])
                        assert "cannot" in text and "s3cret-pw" not in text, page
                async with http.get(f"{proc.url}/ui/sessions/{session}/version") as resp:
                    assert resp.status == 503 and "error" in await resp.json()
                server.start()
                async with http.get(f"{proc.url}/ui/sessions/{session}") as resp:
                    assert resp.status == 200 and "Refactor open_log" in await resp.text()
        finally:
            await proc.kill()
    finally:
        server.remove()


def test_tail_keeps_following_while_postgres_restarts(cli: list[str], cli_env: dict[str, str]) -> None:
    """`logs tail` is left running: a server restart is one line on stderr, not the end of it."""
    from tests.requestlog.test_logs_cli import _read_until, interrupt, tailing
    from tests.support.services import PostgresServer

    server = PostgresServer().start()
    try:
        url = server.create_database("tail")
        before, after = make_entry(path="/v1/messages?before=1"), make_entry(path="/v1/messages?after=1")
        write_pg(url, [before])
        with tailing(cli, cli_env, url, 1) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            out = _read_until(proc.stdout.fileno(), before.id, proc)
            _read_until(proc.stderr.fileno(), "following the request log", proc)
            server.stop()
            err = _read_until(proc.stderr.fileno(), "still following", proc)
            server.start()
            err += _read_until(proc.stderr.fileno(), "can be read again", proc)
            write_pg(url, [after])
            out += _read_until(proc.stdout.fileno(), after.id, proc)
            rest, err_rest = interrupt(proc)
    finally:
        server.remove()
    assert proc.returncode == 0 and "Traceback" not in err + err_rest
    assert "cannot read the request log" in err and err.count("still following") == 1, err
    assert (out + rest).count(after.id) == 1
