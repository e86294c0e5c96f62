"""Each upstream attempt is kept in the log row and shown by ``logs show``."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from claude_proxy.requestlog.entry import LogEntry
from claude_proxy.requestlog.writer import SqliteRequestLog

pytestmark = pytest.mark.processes

TRIES = [{"n": 1, "status": 529, "wait_ms": 480}, {"n": 2, "error": "cannot reach upstream", "wait_ms": 900},
         {"n": 3, "target": "haiku", "status": 200}]


def test_attempts_round_trip_through_the_log_and_logs_show(tmp_path, cli, cli_env):
    db = tmp_path / "requests.db"
    log = SqliteRequestLog(db)
    log.start()
    log.record(LogEntry(id="retried1", started_at=time.time(), method="POST", path="/v1/messages", status=200,
                        attempts=3, attempt_log=TRIES, route="haiku"))
    log.record(LogEntry(id="single01", started_at=time.time(), method="POST", path="/v1/messages", status=200,
                        attempt_log=[{"n": 1, "status": 200}]))
    log.close()
    shown = subprocess.run([*cli, "logs", "show", "retried1", "--log-db", str(db), "--json"], env=cli_env,
                           capture_output=True, text=True, timeout=60)
    assert json.loads(shown.stdout)["attempt_log"] == TRIES
    text = subprocess.run([*cli, "logs", "show", "retried1", "--log-db", str(db)], env=cli_env,
                          capture_output=True, text=True, timeout=60).stdout
    assert "#1 529 (waited 480 ms)" in text and "#3 haiku 200" in text
    single = subprocess.run([*cli, "logs", "show", "single01", "--log-db", str(db), "--json"], env=cli_env,
                            capture_output=True, text=True, timeout=60)
    assert json.loads(single.stdout)["attempt_log"] is None
