"""The SQLite request log, written through the real SqliteRequestLog into real files."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from claude_proxy.requestlog.entry import RequestLogError
from claude_proxy.requestlog.schema import MIGRATIONS, SCHEMA_VERSION, connect, migrate
from claude_proxy.requestlog.writer import SqliteRequestLog
from claude_proxy.settings import LogSettings
from tests.requestlog.conftest import KEY, make_entry, read_rows, write_entries

pytestmark = pytest.mark.processes

STREAMS = {
    "anthropic-stream-basic-text.sse": ("end_turn", {"input_tokens": 25, "output_tokens": 15}),
    "anthropic-stream-tool-use.sse": ("tool_use", {"input_tokens": 472, "output_tokens": 89}),
    "anthropic-stream-extended-thinking.sse": ("end_turn", {"input_tokens": None, "output_tokens": None}),
    "anthropic-stream-web-search.abbreviated.sse": ("end_turn", {"input_tokens": 10682, "output_tokens": 510,
                                                                 "cache_read_tokens": 0}),
    "sdk-fixture-tool-use-response.sse": ("tool_use", {"input_tokens": 377, "output_tokens": 65,
                                                       "cache_creation_tokens": 0}),
}


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_streamed_exchange_becomes_a_row(db: Path, fixtures_dir: Path, name: str) -> None:
    entry = make_entry(fixtures_dir, name)
    write_entries(db, [entry])
    (row,) = read_rows(db)
    stop, usage = STREAMS[name]
    assert row["id"] == entry.id
    assert row["stream"] == 1 and row["status"] == 200
    assert row["path"] == "/v1/messages?beta=true" and row["method"] == "POST"
    assert row["requested_model"] == "claude-sonnet-4-5"
    assert row["upstream_model"].startswith("claude-sonnet-4")
    assert row["stop_reason"] == stop
    for column, value in usage.items():
        assert row[column] == value, column
    assert row["response_body"] == entry.response_body.decode()
    assert row["duration_ms"] == 120.0 and row["ttfb_ms"] == 15.0
    message = json.loads(row["message"])
    assert message["role"] == "assistant" and message["content"]


def test_tool_call_is_assembled_into_the_row(db: Path, fixtures_dir: Path) -> None:
    write_entries(db, [make_entry(fixtures_dir, "anthropic-stream-tool-use.sse")])
    message = json.loads(read_rows(db)[0]["message"])
    assert message["content"][1] == {
        "type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather",
        "input": {"location": "San Francisco, CA", "unit": "fahrenheit"},
    }


def test_json_exchange_and_upstream_error(db: Path, fixtures_dir: Path) -> None:
    ok = make_entry(response_body=(fixtures_dir / "anthropic" / "anthropic-response-message-text.json").read_bytes())
    failed = make_entry(status=529, requested_model="claude-opus-4-1",
                        response_body=(fixtures_dir / "anthropic" / "anthropic-error-overloaded.json").read_bytes())
    unreachable = make_entry(status=502, response_body=b"", error="upstream api.example.test unreachable: refused")
    write_entries(db, [ok, failed, unreachable])
    first, second, third = read_rows(db)
    assert first["stream"] == 0
    assert (first["input_tokens"], first["output_tokens"], first["stop_reason"]) == (12, 6, "end_turn")
    assert json.loads(first["message"])["content"] == [{"type": "text", "text": "Hello!"}]
    assert first["upstream_model"] == "claude-sonnet-4-5"
    assert second["status"] == 529 and second["error"].startswith("overloaded_error")
    assert second["requested_model"] == "claude-opus-4-1" and second["message"] is None
    assert third["error"] == "upstream api.example.test unreachable: refused"


def test_stream_cut_by_an_error_event_keeps_text_and_error(db: Path, fixtures_dir: Path) -> None:
    text = (fixtures_dir / "anthropic" / "anthropic-stream-basic-text.sse").read_bytes()
    cut = text[: text.index(b"event: content_block_stop")]
    body = cut + (fixtures_dir / "anthropic" / "anthropic-event-error-overloaded.sse").read_bytes()
    write_entries(db, [make_entry(response_body=body, stream=True)])
    (row,) = read_rows(db)
    assert json.loads(row["message"])["content"][0]["text"] == "Hello!"
    assert row["error"] == "overloaded_error: Overloaded"
    assert row["input_tokens"] == 25


def test_secrets_never_reach_the_file(db: Path, fixtures_dir: Path) -> None:
    bearer = "oauth-token-0123456789abcdefghijklmn-Q9z1"
    entries = [
        make_entry(fixtures_dir, "anthropic-stream-tool-use.sse"),
        make_entry(request_headers={"Authorization": f"Bearer {bearer}", "Cookie": "session=abcdef0123456789xyz9",
                                    "X-Custom": f"key {KEY}"},
                   path=f"/v1/models?api_key={KEY}&limit=5",
                   request_body=json.dumps({"model": "m", "echo": KEY}).encode(),
                   response_headers={"set-cookie": "sid=zzzzzzzzzzzzzzzz7777; HttpOnly"},
                   error=f"upstream rejected key {KEY}"),
    ]
    log = SqliteRequestLog(db)
    log.start()
    for entry in entries:
        log.record(entry)
    log.close()
    blob = b"".join(p.read_bytes() for p in db.parent.iterdir())
    for secret in (KEY, bearer, "abcdef0123456789xyz9", "zzzzzzzzzzzzzzzz7777", KEY[:-4]):
        assert secret.encode() not in blob, secret
    first, second = read_rows(db)
    assert json.loads(first["request_headers"])["x-api-key"] == "****WXYZ"
    headers = json.loads(second["request_headers"])
    assert headers["authorization"] == "Bearer ****Q9z1", "names are stored lower-cased"
    assert headers["cookie"].endswith("xyz9") and headers["x-custom"] == "key ****WXYZ"
    assert second["path"] == "/v1/models?api_key=****WXYZ&limit=5"
    assert json.loads(second["request_body"])["echo"] == "****WXYZ"
    assert "****WXYZ" in second["error"]
    assert json.loads(first["request_headers"])["anthropic-version"] == "2023-06-01"


def test_bodies_are_cut_at_the_cap_and_flagged(db: Path, fixtures_dir: Path) -> None:
    entry = make_entry(fixtures_dir, "anthropic-stream-tool-use.sse")
    small = make_entry(response_body=b'{"type":"message"}')
    write_entries(db, [entry, small], max_body_bytes=64)
    big, tiny = read_rows(db)
    assert big["response_truncated"] == 1 and big["request_truncated"] == 1
    assert len(big["response_body"].encode()) <= 64
    assert big["response_bytes"] == len(entry.response_body)
    assert entry.response_body.decode().startswith(big["response_body"])
    assert json.loads(big["message"])["content"][1]["name"] == "get_weather", "assembled from the whole body"
    assert big["output_tokens"] == 89
    assert tiny["response_truncated"] == 0 and tiny["response_body"] == '{"type":"message"}'


def test_bodies_off_keeps_metadata_only(db: Path, fixtures_dir: Path) -> None:
    entry = make_entry(fixtures_dir, "anthropic-stream-tool-use.sse")
    write_entries(db, [entry], bodies=False)
    (row,) = read_rows(db)
    assert row["request_body"] is None and row["response_body"] is None and row["message"] is None
    assert (row["input_tokens"], row["output_tokens"], row["stop_reason"]) == (472, 89, "tool_use")
    assert row["requested_model"] == "claude-sonnet-4-5"
    blob = b"".join(p.read_bytes() for p in db.parent.iterdir())
    assert b"San Francisco" not in blob and b"weather" not in blob


def test_settings_build_the_log(tmp_path: Path, fixtures_dir: Path) -> None:
    settings = LogSettings(path=str(tmp_path / "from-settings.db"), bodies=False, max_body_bytes=10)
    log = SqliteRequestLog.from_settings(settings)
    assert (log.path, log.bodies, log.max_body_bytes) == (tmp_path / "from-settings.db", False, 10)
    log.start()
    log.record(make_entry())
    log.close()
    assert len(read_rows(tmp_path / "from-settings.db")) == 1


def test_old_schema_is_migrated_and_keeps_its_rows(db: Path) -> None:
    db.parent.mkdir(parents=True)
    conn = connect(db)
    assert migrate(conn, target=1) == 1
    conn.execute("INSERT INTO requests (id, started_at, method, path, status)"
                 " VALUES ('old1', 1.0, 'GET', '/v1/models', 200)")
    conn.close()

    write_entries(db, [make_entry(route="anthropic", attempts=2)])
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    old, new = read_rows(db)
    assert (old["id"], old["path"], old["attempts"], old["route"]) == ("old1", "/v1/models", 1, None)
    assert (new["route"], new["attempts"]) == ("anthropic", 2)


def test_a_later_release_adds_a_column_and_an_older_one_still_writes(db: Path) -> None:
    write_entries(db, [make_entry()])
    later = MIGRATIONS + ["ALTER TABLE requests ADD COLUMN cost_usd REAL"]
    conn = connect(db)
    assert migrate(conn, migrations=later) == SCHEMA_VERSION + 1
    assert migrate(conn, migrations=later) == SCHEMA_VERSION + 1, "migrating twice is a no-op"
    conn.close()
    write_entries(db, [make_entry()])
    rows = read_rows(db)
    assert len(rows) == 2 and "cost_usd" in rows[1]


def test_many_threads_lose_nothing(db: Path) -> None:
    log = SqliteRequestLog(db, batch_size=16)
    log.start()
    ids: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(150):
            entry = make_entry(path=f"/v1/messages?t={n}&i={i}")
            with lock:
                ids.append(entry.id)
            log.record(entry)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    rows = read_rows(db)
    assert sorted(r["id"] for r in rows) == sorted(ids)
    assert log.written == 1200 and log.healthy


WRITER = """
import sys, time
from pathlib import Path
from claude_proxy.requestlog.entry import LogEntry, new_entry_id
from claude_proxy.requestlog.writer import SqliteRequestLog
path, count, name = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
log = SqliteRequestLog(path, batch_size=7)
log.start()
for i in range(count):
    log.record(LogEntry(id=new_entry_id(), started_at=time.time(), method="POST",
                        path=f"/v1/messages?w={name}&i={i}", status=200, request_body=b'{"model": "m"}'))
log.close()
"""


def test_several_processes_share_one_file(db: Path, cli_env: dict[str, str]) -> None:
    """Like `serve --workers 3`: three processes create, migrate and fill the same new file at once."""
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), "300", f"p{n}"], env=cli_env,
                              stderr=subprocess.PIPE) for n in range(3)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    rows = read_rows(db)
    assert len(rows) == 900 and len({r["id"] for r in rows}) == 900
    for n in range(3):
        assert sum(f"w=p{n}&" in r["path"] for r in rows) == 300
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_close_drains_everything_queued(db: Path) -> None:
    log = SqliteRequestLog(db)
    log.start()
    entries = [make_entry(path=f"/v1/messages?i={i}") for i in range(3000)]
    for entry in entries:
        log.record(entry)
    log.close(timeout=120)
    assert len(read_rows(db)) == 3000 and log.queue_depth == 0
    log.record(make_entry())
    assert log.dropped == 1, "a record after close is counted, not silently lost"
    log.close()


async def test_record_never_waits_for_sqlite(db: Path) -> None:
    """Another process's write lock stalls the writer thread, never the caller of record()."""
    write_entries(db, [])
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    log = SqliteRequestLog(db, busy_timeout=60)
    log.start()
    for i in range(50):
        log.record(make_entry(path=f"/v1/messages?i={i}"))
    assert len(read_rows(db)) == 0
    holder.execute("COMMIT")
    holder.close()
    log.close()
    assert len(read_rows(db)) == 50 and log.healthy


def test_a_full_queue_drops_and_reports_unhealthy(db: Path) -> None:
    log = SqliteRequestLog(db, queue_size=10)
    for i in range(15):
        log.record(make_entry(path=f"/v1/messages?i={i}"))
    assert log.queue_depth == 10 and log.dropped == 5 and not log.healthy
    log.start()
    log.close()
    assert len(read_rows(db)) == 10


def test_an_unprocessable_entry_still_leaves_a_row(db: Path) -> None:
    bad = make_entry(response_body="not bytes")  # type: ignore[arg-type]
    good = make_entry()
    write_entries(db, [bad, good])
    first, second = read_rows(db)
    assert first["id"] == bad.id and "could not process" in first["error"]
    assert second["id"] == good.id and second["error"] is None


def test_an_unopenable_file_fails_at_start(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(RequestLogError, match="cannot open the request log"):
        SqliteRequestLog(tmp_path / "dir.db").start()


def test_a_long_stream_the_proxy_cut_still_logs_its_closing_usage(db: Path, fixtures_dir: Path) -> None:
    """The proxy keeps the head and the last bytes of a long stream; the row gets both ends."""
    full = (fixtures_dir / "anthropic" / "anthropic-stream-tool-use.sse").read_bytes()
    entry = make_entry(fixtures_dir, "anthropic-stream-tool-use.sse", response_body=full[:700],
                       response_tail=full[-260:], response_size=len(full))
    write_entries(db, [entry])
    (row,) = read_rows(db)
    assert (row["input_tokens"], row["output_tokens"], row["stop_reason"]) == (472, 89, "tool_use")
    assert row["response_truncated"] == 1 and row["response_bytes"] == len(full)
    assert json.loads(row["message"])["content"][0]["text"].startswith("Okay")


def test_a_locked_file_makes_the_log_unhealthy_until_a_retry_succeeds(db: Path) -> None:
    write_entries(db, [])
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    log = SqliteRequestLog(db, busy_timeout=0.05)
    log.start()
    entry = make_entry()
    log.record(entry)
    deadline = time.monotonic() + 30  # a hang guard, not a timing assertion
    while log.healthy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not log.healthy and "locked" in (log.last_error or "")
    holder.execute("COMMIT")
    holder.close()
    log.close()
    assert [r["id"] for r in read_rows(db)] == [entry.id]
    assert log.healthy and log.lost == 0


def test_a_row_the_database_refuses_loses_only_itself(db: Path) -> None:
    write_entries(db, [])
    conn = sqlite3.connect(db)
    conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON requests WHEN NEW.path = '/refused'"
                 " BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END")
    conn.commit()
    conn.close()
    log = SqliteRequestLog(db)
    entries = [make_entry(path="/v1/a"), make_entry(path="/refused"), make_entry(path="/v1/b")]
    for entry in entries:
        log.record(entry)
    log.start()  # all three are queued already, so they go out as one batch
    log.close()
    assert [r["path"] for r in read_rows(db)] == ["/v1/a", "/v1/b"]
    assert log.lost == 1 and log.written == 2


def test_a_usage_count_past_64_bits_is_kept_as_unknown_and_the_row_written(db: Path) -> None:
    # SQLite cannot bind it; before, that cost the row (and earlier still, the writer and every later row)
    huge = (b'{"type":"message","role":"assistant","content":[],"stop_reason":"end_turn",'
            b'"usage":{"input_tokens":' + str(2 ** 70).encode() + b',"output_tokens":1}}')
    before, bad, after = make_entry(), make_entry(response_body=huge), make_entry()
    log = SqliteRequestLog(db)
    log.start()
    for entry in (before, bad, after):
        log.record(entry)
    log.close()
    rows = {row["id"]: row for row in read_rows(db)}
    assert list(rows) == [before.id, bad.id, after.id]
    assert (rows[bad.id]["input_tokens"], rows[bad.id]["output_tokens"]) == (None, 1)
    assert log.written == 3 and log.lost == 0 and log.last_error is None
