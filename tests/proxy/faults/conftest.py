"""Fixtures for fault-injection tests: a faulty upstream in a thread and real ``claude-proxy serve`` children.

- ``faulty``: a started `FaultyUpstream` (tests/support/faulty_upstream.py).
- ``serve(config, *args)``: a ``claude-proxy serve --port 0`` subprocess with that settings
  mapping, its own request-log file, stdout/stderr in files (a chatty child never blocks on a
  full pipe); killed after the test if still running.
- ``log_rows(db)``: the request-log rows, as dicts.
- ``fake_openai``: the fake OpenAI backend of tests/proxy/translate/conftest.py, imported.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

# ``fake_openai`` (a fake OpenAI-compatible backend) is the translate tests' fixture; imported here
# so test_translated_fallback.py can request it without a module-level import.
from tests.proxy.translate.conftest import fake_openai  # noqa: F401
from tests.support.faulty_upstream import FaultyUpstream, wait_until  # noqa: F401  (re-exported for the tests)

LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass
class Served:
    """A running ``claude-proxy serve`` child."""

    proc: subprocess.Popen
    url: str
    db: Path
    out: Path
    err: Path

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def terminate(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def metrics(self, **headers: str) -> str:
        return httpx.get(self.url + "/metrics", headers=headers, timeout=10).text


def start_serve(cli: list[str], env: dict[str, str], workdir: Path, config: dict[str, Any],
                *args: str, name: str = "proxy") -> Served:
    cfg = workdir / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump(config))
    db = workdir / f"{name}.db"
    out, err = workdir / f"{name}.out", workdir / f"{name}.err"
    cmd = [*cli, "serve", "--port", "0", "--config", str(cfg), "--log-db", str(db), *args]
    with out.open("wb") as fo, err.open("wb") as fe:
        proc = subprocess.Popen(cmd, env=env, stdout=fo, stderr=fe, cwd=workdir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = LISTENING.search(out.read_text(errors="replace"))
        if match:
            return Served(proc, match.group(1), db, out, err)
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited {proc.returncode}: {err.read_text(errors='replace')}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("serve did not start listening")


def child_env(home: Path) -> dict[str, str]:
    """Like the root ``cli_env``, for module-scoped servers: this checkout, no user settings or keys."""
    repo = Path(__file__).resolve().parents[3]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_PROXY_"))}
    env.update(PYTHONPATH=str(repo) + os.pathsep + env.get("PYTHONPATH", ""), HOME=str(home),
               XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local" / "share"),
               NO_COLOR="1")
    return env


@pytest.fixture
def faulty():
    with FaultyUpstream() as upstream:
        yield upstream


@pytest.fixture
def serve(cli: list[str], cli_env: dict[str, str], tmp_path: Path):
    started: list[Served] = []

    def start(config: dict[str, Any], *args: str, name: str = "proxy") -> Served:
        served = start_serve(cli, cli_env, tmp_path, config, *args, name=name)
        started.append(served)
        return served

    yield start
    for served in started:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait(10)


def log_rows(db: Path, wait_for: int = 0, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The request log's rows (oldest first), waiting until at least ``wait_for`` are written."""
    deadline = time.monotonic() + timeout
    while True:
        rows: list[dict[str, Any]] = []
        if db.exists():
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            conn.row_factory = sqlite3.Row
            try:
                rows = [dict(r) for r in conn.execute("SELECT * FROM requests ORDER BY started_at")]
            except sqlite3.OperationalError:
                rows = []
            finally:
                conn.close()
        if len(rows) >= wait_for or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def _with_bodies(db: Path, row: dict[str, Any]) -> dict[str, Any]:
    """The row with its bodies rebuilt from the content store (new rows keep them there, not in columns)."""
    from claude_proxy.requestlog.store.sqlite import SqliteTraceStore

    if row.get("request_body") is None or row.get("response_body") is None:
        store = SqliteTraceStore(db)
        try:
            rebuilt = store.row(row["id"])
        finally:
            store.close()
        for name in ("request_body", "response_body"):
            if row.get(name) is None:
                row[name] = rebuilt.get(name)
    return row


def row_for(db: Path, entry_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The log row with this ``x-claude-proxy-id``, once the writer has it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for row in log_rows(db):
            if row["id"] == entry_id:
                return _with_bodies(db, row)
        time.sleep(0.05)
    raise AssertionError(f"no log row {entry_id}")


