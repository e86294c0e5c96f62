"""The process-backed request log: a real writer child, real SQLite files, real signals."""

from __future__ import annotations

import gzip
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claude_proxy.requestlog.entry import RequestLogError
from claude_proxy.requestlog.process import ProcessRequestLog
from claude_proxy.requestlog.query import LogQueryError
from claude_proxy.requestlog.writer import SqliteRequestLog
from tests.requestlog.conftest import KEY, make_entry, read_rows, write_entries
from tests.support.faulty_upstream import wait_until
from tests.support.filefaults import unwritable
from tests.support.signals import alive

pytestmark = pytest.mark.processes


def _write(path: Path, entries: list, **options) -> ProcessRequestLog:
    log = ProcessRequestLog(path, **options)
    log.start()
    for entry in entries:
        log.record(entry)
    log.close()
    return log


def _varied_entries(fixtures_dir: Path) -> list:
    anthropic = fixtures_dir / "anthropic"
    full = (anthropic / "anthropic-stream-tool-use.sse").read_bytes()
    text = (anthropic / "anthropic-stream-basic-text.sse").read_bytes()
    streams = sorted(p.name for p in anthropic.glob("anthropic-stream-*.sse"))
    entries = [make_entry(fixtures_dir, name) for name in streams]
    entries += [
        make_entry(response_body=(anthropic / "anthropic-response-message-text.json").read_bytes()),
        make_entry(status=529, requested_model="claude-opus-4-1",
                   response_body=(anthropic / "anthropic-error-overloaded.json").read_bytes()),
        make_entry(status=502, response_body=b"", error=f"upstream unreachable; key {KEY} was sent"),
        make_entry(fixtures_dir, "anthropic-stream-tool-use.sse", response_body=full[:700],
                   response_tail=full[-260:], response_size=len(full)),
        make_entry(response_body=gzip.compress((anthropic / "anthropic-response-message-text.json").read_bytes()),
                   response_headers={"content-type": "application/json", "content-encoding": "gzip"}),
        make_entry(path=f"/v1/messages?key={KEY}", request_body=json.dumps({"model": "m", "api_key": KEY}).encode(),
                   response_body=text[: text.index(b"event: content_block_stop")], stream=True,
                   attempts=2, attempt_log=[{"n": 1, "target": "a", "status": 529}, {"n": 2, "target": "b"}]),
        make_entry(response_body="not bytes"),  # type: ignore[arg-type]  # an entry the row code cannot process
    ]
    return entries


def test_rows_are_the_ones_the_thread_log_writes(tmp_path: Path, fixtures_dir: Path) -> None:
    """Same entries, both logs: identical rows, column for column, and no key in clear."""
    entries = _varied_entries(fixtures_dir)
    by_process = tmp_path / "process.db"
    log = _write(by_process, entries)
    write_entries(tmp_path / "thread.db", entries)
    rows, expected = read_rows(by_process), read_rows(tmp_path / "thread.db")
    assert len(rows) == len(entries) and rows == expected
    assert (log.written, log.dropped, log.lost, log.queue_depth, log.healthy) == (len(entries), 0, 0, 0, True)
    assert json.loads(rows[0]["request_headers"])["x-api-key"] == "****WXYZ"
    assert any(r["message"] for r in rows) and any(r["output_tokens"] for r in rows)
    assert "could not process" in rows[-1]["error"]
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("process.db"))
    assert KEY.encode() not in blob and KEY[:-4].encode() not in blob


def test_close_drains_every_entry_recorded(tmp_path: Path) -> None:
    db = tmp_path / "logs" / "requests.db"
    log = ProcessRequestLog(db, batch_size=50)
    log.start()
    ids = []
    for i in range(3000):
        entry = make_entry(path=f"/v1/messages?i={i}")
        ids.append(entry.id)
        log.record(entry)
    log.close(timeout=120)
    assert [r["id"] for r in read_rows(db)] == ids
    assert (log.written, log.dropped, log.lost, log.queue_depth) == (3000, 0, 0, 0)
    assert not alive(log.pid)
    log.record(make_entry())
    assert log.dropped == 1, "a record after close is counted, not silently lost"
    log.close()


def test_an_unopenable_file_fails_at_start_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(RequestLogError, match=r"^cannot open the request log .*dir\.db: .*is a directory"):
        ProcessRequestLog(tmp_path / "dir.db").start()
    (tmp_path / "file").write_text("x")
    with pytest.raises(RequestLogError, match=r"^cannot open the request log .*file/requests\.db: "):
        ProcessRequestLog(tmp_path / "file" / "requests.db").start()


def test_a_killed_writer_is_restarted_and_entries_wait_meanwhile(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "requests.db"
    log = ProcessRequestLog(db)
    log.start()
    for i in range(5):
        log.record(make_entry(path=f"/v1/messages?i={i}"))
    assert wait_until(lambda: log.written == 5)
    first = log.pid
    assert log.healthy
    with caplog.at_level(logging.WARNING, logger="claude_proxy"):
        os.kill(first, signal.SIGKILL)
        for i in range(7):
            log.record(make_entry(path=f"/v1/messages?after={i}"))  # never raises, never waits
        # those the dead writer had received are lost (and counted); the rest wait and are written
        # a new writer, not merely none (pid is None while the dead one's entries are being counted)
        assert wait_until(lambda: log.pid not in (None, first) and log.written + log.dropped == 12, timeout=10)
        assert log.healthy
        after = log.written - 5
        log.record(make_entry(path="/v1/messages?later"))
        log.close()
    assert (log.written, log.queue_depth, log.unwritten) == (5 + after + 1, 0, 0)
    died = [r for r in caplog.records if "killed by SIGKILL" in r.getMessage()]
    assert len(died) == 1 and died[0].levelno == logging.ERROR, "one error, not one per entry"
    assert any("restarted" in r.getMessage() for r in caplog.records)
    assert len(read_rows(db)) == 5 + after + 1
    assert not alive(first)


def test_a_writer_that_cannot_be_restarted_is_tried_again_while_entries_wait(tmp_path: Path) -> None:
    db = tmp_path / "logs" / "requests.db"
    log = ProcessRequestLog(db, queue_size=20)
    log.start()
    log.record(make_entry())
    assert wait_until(lambda: log.written == 1)
    with unwritable(db):
        os.kill(log.pid, signal.SIGKILL)
        assert wait_until(lambda: not log.healthy)
        for i in range(25):
            log.record(make_entry(path=f"/v1/messages?i={i}"))
        time.sleep(1.5)  # a failed start or two
        assert log.dropped == 5 and not log.healthy and log.queue_depth == 20
        assert "killed by SIGKILL" in (log.last_error or "")
    assert wait_until(lambda: log.written == 21, timeout=15), log.last_error
    log.close()
    assert len(read_rows(db)) == 21


def test_signals_to_the_writer_do_not_stop_it(tmp_path: Path) -> None:
    """Ctrl-C or SIGTERM reaching the writer costs nothing: only the end of its input stops it."""
    db = tmp_path / "requests.db"
    log = ProcessRequestLog(db)
    log.start()
    log.record(make_entry())
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        os.kill(log.pid, sig)
    time.sleep(0.3)
    assert alive(log.pid) and log.healthy
    log.record(make_entry())
    log.close()
    assert len(read_rows(db)) == 2 and log.healthy


def test_record_never_waits_for_a_locked_file(tmp_path: Path) -> None:
    """Another process's write lock stalls the writer process, never record() or the counters' truth."""
    db = tmp_path / "requests.db"
    write_entries(db, [])
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    log = ProcessRequestLog(db, busy_timeout=60)
    log.start()
    started = time.perf_counter()
    for i in range(50):
        log.record(make_entry(path=f"/v1/messages?i={i}"))
    assert time.perf_counter() - started < 1.0
    assert log.queue_depth == 50
    time.sleep(0.3)
    assert log.queue_depth == 50 and len(read_rows(db)) == 0
    holder.execute("COMMIT")
    holder.close()
    log.close()
    assert len(read_rows(db)) == 50 and log.healthy and log.written == 50


def test_a_full_queue_drops_and_reports_unhealthy(tmp_path: Path) -> None:
    db = tmp_path / "requests.db"
    log = ProcessRequestLog(db, queue_size=10)
    for i in range(15):
        log.record(make_entry(path=f"/v1/messages?i={i}"))
    assert log.queue_depth == 10 and log.dropped == 5 and not log.healthy
    log.start()
    log.close()
    assert len(read_rows(db)) == 10 and log.healthy


def test_a_locked_file_shows_as_unhealthy_until_it_is_written(tmp_path: Path) -> None:
    db = tmp_path / "requests.db"
    write_entries(db, [])
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    log = ProcessRequestLog(db, busy_timeout=0.05)
    log.start()
    log.record(make_entry())
    assert wait_until(lambda: not log.healthy, timeout=30)
    assert "locked" in (log.last_error or "")
    holder.execute("COMMIT")
    holder.close()
    log.close()
    assert len(read_rows(db)) == 1 and log.healthy and log.lost == 0


KILLED_PARENT = """
import sys, time
from pathlib import Path
from claude_proxy.requestlog.process import ProcessRequestLog
from tests.requestlog.conftest import make_entry
log = ProcessRequestLog(Path(sys.argv[1]), busy_timeout=60)
log.start()
for i in range(40):
    log.record(make_entry(path=f"/v1/messages?i={i}"))
while log._pending or log._in_hand:  # until every entry is in the writer's pipe
    time.sleep(0.01)
print(log.pid, flush=True)
time.sleep(600)
"""


def test_a_writer_whose_proxy_is_killed_writes_what_it_has_and_exits(tmp_path: Path, cli_env: dict[str, str]) -> None:
    db = tmp_path / "requests.db"
    write_entries(db, [])
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the writer holds the entries, waiting for the lock
    proxy = subprocess.Popen([sys.executable, "-c", KILLED_PARENT, str(db)], env=cli_env,
                             cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE)
    try:
        writer = int(proxy.stdout.readline())
        proxy.kill()
        proxy.wait(10)
        time.sleep(0.2)
        assert alive(writer), "it still has rows to write"
    finally:
        holder.execute("COMMIT")
        holder.close()
        proxy.kill()
    assert wait_until(lambda: not alive(writer), timeout=30)
    assert len(read_rows(db)) == 40


def test_settings_build_the_process_log(tmp_path: Path) -> None:
    from claude_proxy.settings import LogSettings

    settings = LogSettings(path=str(tmp_path / "x.db"), bodies=False, max_body_bytes=10, queue_size=3,
                           batch_size=2, busy_timeout=1.5)
    log = ProcessRequestLog.from_settings(settings)
    thread = SqliteRequestLog.from_settings(settings)
    assert (log.path, log.bodies, log.max_body_bytes, log.queue_size, log.batch_size, log.busy_timeout) == (
        thread.path, thread.bodies, thread.max_body_bytes, thread.queue_size, thread.batch_size, thread.busy_timeout)
    _write(log.path, [make_entry()], bodies=False)
    (row,) = read_rows(log.path)
    assert row["request_body"] is None and row["response_body"] is None


def test_a_writer_that_falls_behind_stops_reading_rather_than_dropping(tmp_path: Path) -> None:
    """Bursts that each fit the queue, sent while the file is locked: they wait in the pipe, none is dropped."""
    db = tmp_path / "requests.db"
    write_entries(db, [])
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    log = ProcessRequestLog(db, queue_size=50, busy_timeout=60)
    log.start()
    for burst in range(4):
        for i in range(50):
            log.record(make_entry(path=f"/v1/messages?burst={burst}&i={i}"))
        assert wait_until(lambda burst=burst: log.queue_depth == 50 * (burst + 1) and not log._pending)
    assert log.dropped == 0 and log.queue_depth == 200
    holder.execute("COMMIT")
    holder.close()
    log.close()
    assert (log.written, log.dropped) == (200, 0)
    assert len(read_rows(db)) == 200


def _rows_after(db: Path) -> bool:
    """Rows recorded after the change are in the file at the path (the new writer's)."""
    try:
        return db.exists() and any("after=" in r["path"] for r in read_rows(db))
    except (sqlite3.Error, LogQueryError):  # being created by the new writer
        return False


def test_an_unwritable_file_refuses_to_start(tmp_path: Path) -> None:
    db = tmp_path / "requests.db"
    write_entries(db, [make_entry()])
    with unwritable(db):
        with pytest.raises(RequestLogError, match=r"^cannot open the request log .*requests\.db: the file is not "
                                                   r"writable \(permission denied\)$"):
            ProcessRequestLog(db).start()


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_deleted_or_replaced_file_is_noticed_recreated_and_reported(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str) -> None:
    db = tmp_path / "requests.db"
    log = ProcessRequestLog(db)
    log.start()
    log.record(make_entry(path="/v1/messages?before"))
    assert wait_until(lambda: log.written == 1)
    with caplog.at_level(logging.WARNING, logger="claude_proxy"):
        if how == "deleted":
            db.unlink()
        else:
            write_entries(tmp_path / "other.db", [])
            os.replace(tmp_path / "other.db", db)
        deadline = time.monotonic() + 15
        i = 0
        noticed = lambda: any("recreates it" in r.getMessage() for r in caplog.records)  # noqa: E731
        while time.monotonic() < deadline and not (_rows_after(db) and noticed()):
            log.record(make_entry(path=f"/v1/messages?after={i}"))  # traffic, as a serving proxy has
            i += 1
            time.sleep(0.05)
        log.close()
    assert db.exists(), "recreated"
    rows = read_rows(db)
    assert any("after=" in r["path"] for r in rows)
    assert any(f"was {how} while in use" in r.getMessage() for r in caplog.records)
    assert any("recreates it" in r.getMessage() for r in caplog.records)
    # nothing lost beyond the window between the change and the old writer noticing it (about a second)
    assert log.written + log.dropped + log.lost >= i + 1 - 30


def test_close_gives_up_after_the_drain_timeout_and_reports_what_is_left(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "requests.db"
    write_entries(db, [])
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a writer that can never write, as on a dead disk
    try:
        log = ProcessRequestLog(db, busy_timeout=60, drain_timeout=1.0)
        log.start()
        for i in range(30):
            log.record(make_entry(path=f"/v1/messages?i={i}"))
        writer = log.pid
        started = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="claude_proxy"):
            log.close()
        assert time.monotonic() - started < 8
        assert log.unwritten == 30 and log.dropped == 30
        assert any("30 entries could not be written within log.drain_timeout" in r.getMessage()
                   for r in caplog.records)
        assert wait_until(lambda: not alive(writer), timeout=5)
    finally:
        holder.execute("COMMIT")
        holder.close()
