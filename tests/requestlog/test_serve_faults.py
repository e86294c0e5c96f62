"""The request log of a real ``claude-proxy serve`` under real faults: a killed writer, a file nobody
may write, a file deleted while serving, a full disk, a killed proxy.

Each test counts rows against requests: nothing may be lost outside the documented window (the
entries a dead writer had received but not written, or those that met a full disk), no request
fails because of the log, and shutdown is bounded.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.proxy.faults.conftest import Served, child_env, log_rows, start_serve
from tests.support.faulty_upstream import FaultyUpstream, wait_until
from tests.support.filefaults import fill, ids_inside, inside, tmpfs_prefix, unwritable
from tests.support.signals import alive

pytestmark = pytest.mark.processes

PLAIN = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hello"}]}
CLI = [sys.executable, "-m", "claude_proxy"]


@pytest.fixture(scope="module")
def upstream():
    with FaultyUpstream(keep_bodies=False) as up:
        yield up


def _writer_of(pid: int) -> int | None:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"claude_proxy.requestlog.child" in cmdline:
            return int(entry)
    return None


def _post(url: str, n: int) -> list[str]:
    """``n`` requests, each must be answered 200 whatever the log is doing; their row ids."""
    ids = []
    with httpx.Client(timeout=30) as client:
        for _ in range(n):
            response = client.post(url + "/v1/messages", json=PLAIN)
            assert response.status_code == 200, response.text
            ids.append(response.headers["x-claude-proxy-id"])
    return ids


def _count(db: Path) -> int:
    return len(log_rows(db))


def test_a_killed_writer_under_load_is_restarted_and_only_what_it_held_is_lost(upstream, tmp_path: Path):
    served = start_serve(CLI, child_env(tmp_path / "home"), tmp_path, {"upstream": {"base_url": upstream.url}})
    ids: list[str] = []
    load = threading.Thread(target=lambda: ids.extend(_post(served.url, 400)))
    load.start()
    try:
        assert wait_until(lambda: _count(served.db) >= 50, timeout=30)
        first = _writer_of(served.proc.pid)
        assert first is not None
        os.kill(first, signal.SIGKILL)
        killed_at = time.monotonic()
        assert wait_until(lambda: _writer_of(served.proc.pid) not in (None, first), timeout=10)
        assert time.monotonic() - killed_at < 5, "restarted within seconds"
        load.join(120)
    finally:
        assert served.terminate() == 0
    err = served.stderr()
    held = [int(m) for m in re.findall(r"the (\d+) entries it held are lost", err)]
    assert len(held) == 1, err
    rows = {r["id"] for r in log_rows(served.db, wait_for=len(ids) - held[0])}
    missing = set(ids) - rows
    assert len(missing) <= held[0] and len(ids) == 400, (len(missing), held)
    assert "restarted" in err and "Traceback" not in err


def test_an_unwritable_log_file_refuses_start_up_with_one_line(tmp_path: Path):
    db = tmp_path / "requests.db"
    sqlite3.connect(db).close()
    with unwritable(db):
        done = subprocess.run([*CLI, "serve", "--port", "0", "--log-db", str(db)], env=child_env(tmp_path / "home"),
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"claude-proxy: error: cannot open the request log {db}: the file is not writable (permission denied)"]


def test_a_log_file_deleted_while_serving_is_recreated_and_reported(upstream, tmp_path: Path):
    served = start_serve(CLI, child_env(tmp_path / "home"), tmp_path, {"upstream": {"base_url": upstream.url}})
    try:
        _post(served.url, 5)
        assert wait_until(lambda: _count(served.db) == 5)
        served.db.unlink()
        deadline = time.monotonic() + 20
        after: list[str] = []
        while time.monotonic() < deadline and not (served.db.exists() and _count(served.db)):
            after += _post(served.url, 1)
            time.sleep(0.05)
        later = _post(served.url, 10)
    finally:
        assert served.terminate() == 0
    rows = {r["id"] for r in log_rows(served.db)}
    assert set(later) <= rows, "rows after the file came back are all there"
    # what went to the deleted file before the writer noticed (about a second) is the window
    assert len(set(after) - rows) <= 40
    err = served.stderr()
    assert "was deleted while in use" in err and "recreates it" in err, err


def _start_on_tmpfs(tmp_path: Path, upstream: FaultyUpstream, size: int, **log: object) -> tuple[Served, Path]:
    folder = tmp_path / "small"
    config = {"upstream": {"base_url": upstream.url}, "server": {"shutdown_timeout": 2},
              "log": {"drain_timeout": 2, **log}}
    served = start_serve([*tmpfs_prefix(folder, size), *CLI], child_env(tmp_path / "home"), tmp_path, config,
                         "--log-db", str(folder / "requests.db"))
    return served, inside(served.proc.pid, folder)


def test_a_full_disk_loses_only_what_met_it_and_writing_resumes_once_it_clears(upstream, tmp_path: Path):
    served, folder = _start_on_tmpfs(tmp_path, upstream, 4 << 20)
    db = tmp_path / "small" / "requests.db"  # as serve sees it
    try:
        _post(served.url, 5)
        assert wait_until(lambda: len(ids_inside(served.proc.pid, db)) == 5)
        filler = fill(folder)
        _post(served.url, 30)  # every request is still answered
        assert wait_until(lambda: httpx.get(served.url + "/health", timeout=10).json()["status"] == "degraded")
        ready = httpx.get(served.url + "/health/ready", timeout=10)
        assert ready.status_code == 200, "a logging fault does not take the instance out of rotation"
        filler.unlink()
        time.sleep(1.5)  # the batches that met the full disk are retried once, then counted as lost
        later = _post(served.url, 20)
        assert wait_until(lambda: ids_inside(served.proc.pid, db) >= set(later), timeout=15)
        assert httpx.get(served.url + "/health", timeout=10).json()["status"] == "ok"
        started = time.monotonic()
        assert served.terminate() == 0
        assert time.monotonic() - started < 10
    finally:
        served.proc.kill()
    assert "Traceback" not in served.stderr()


def test_sigterm_with_a_full_disk_finishes_in_bounded_time_and_reports_the_loss(upstream, tmp_path: Path):
    served, folder = _start_on_tmpfs(tmp_path, upstream, 4 << 20)
    try:
        _post(served.url, 3)
        assert wait_until(lambda: len(ids_inside(served.proc.pid, tmp_path / "small" / "requests.db")) == 3)
        writer = _writer_of(served.proc.pid)
        fill(folder)
        _post(served.url, 300)
        started = time.monotonic()
        assert served.terminate(timeout=60) == 0
        took = time.monotonic() - started
    finally:
        served.proc.kill()
    assert took < 2 + 2 + 5, took  # shutdown_timeout + drain_timeout + start-up slack
    err = served.stderr()
    assert re.search(r"request log: \d+ entries could not be written", err), err
    assert writer is not None and wait_until(lambda: not alive(writer), timeout=5)


def test_the_writer_exits_with_a_killed_proxy(upstream, tmp_path: Path):
    served = start_serve(CLI, child_env(tmp_path / "home"), tmp_path, {"upstream": {"base_url": upstream.url},
                                                                       "log": {"drain_timeout": 2}})
    _post(served.url, 10)
    writer = _writer_of(served.proc.pid)
    assert writer is not None
    time.sleep(0.3)  # handed to the writer (every 50 ms); what a SIGKILL finds in the proxy's own memory is lost
    served.proc.kill()
    served.proc.wait(10)
    assert wait_until(lambda: not alive(writer), timeout=10)
    assert len(log_rows(served.db, wait_for=10)) == 10
