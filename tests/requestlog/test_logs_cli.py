"""`claude-proxy logs ...` run as real subprocesses on a log filled through SqliteRequestLog."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from claude_proxy.requestlog.schema import connect, migrate
from tests.requestlog.conftest import KEY, make_entry, write_entries, write_pg
from tests.support.signals import default_sigint

pytestmark = pytest.mark.processes

T0 = 1_780_000_000.0


@pytest.fixture
def filled(db: Path, fixtures_dir: Path) -> dict[str, str]:
    """Six exchanges with known models, statuses, durations and usage; returns their ids by name."""
    anthropic = fixtures_dir / "anthropic"
    entries = {
        "text": make_entry(fixtures_dir, "anthropic-stream-basic-text.sse", started_at=T0 + 1, duration_ms=100.0),
        "tool": make_entry(fixtures_dir, "anthropic-stream-tool-use.sse", started_at=T0 + 2, duration_ms=200.0),
        "thinking": make_entry(fixtures_dir, "anthropic-stream-extended-thinking.sse", started_at=T0 + 3,
                               duration_ms=300.0),
        "json": make_entry(response_body=(anthropic / "anthropic-response-message-text.json").read_bytes(),
                           started_at=T0 + 4, duration_ms=400.0),
        "overloaded": make_entry(status=529, requested_model="claude-opus-4-1", started_at=T0 + 5, duration_ms=50.0,
                                 response_body=(anthropic / "anthropic-error-overloaded.json").read_bytes()),
        "ratelimited": make_entry(status=429, requested_model="claude-opus-4-1", started_at=T0 + 6,
                                  duration_ms=1000.0, response_body=b'{"type":"error","error":'
                                  b'{"type":"rate_limit_error","message":"slow down"}}'),
    }
    write_entries(db, list(entries.values()))
    return {name: entry.id for name, entry in entries.items()}


def run(cli: list[str], env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli + list(args), env=env, capture_output=True, text=True, timeout=60)


def logs(cli: list[str], env: dict[str, str], db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run(cli, env, "logs", *args, "--log-db", str(db))
    assert "Traceback" not in result.stderr
    return result


def test_list_table_newest_first(cli: list[str], cli_env: dict[str, str], db: Path, filled: dict[str, str]) -> None:
    result = logs(cli, cli_env, db, "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    order = [next(i for i, line in enumerate(lines) if ident in line) for ident in filled.values()]
    assert order == sorted(order, reverse=True), "newest first"
    tool_line = next(line for line in lines if filled["tool"] in line)
    assert "tool_use" in tool_line and "472" in tool_line and "89" in tool_line and "200" in tool_line
    assert "claude-sonnet-4-5 -> claude-sonnet-4-5-20250929" in tool_line
    assert "/v1/messages?beta=true" in tool_line


def test_list_filters_and_limit(cli: list[str], cli_env: dict[str, str], db: Path, filled: dict[str, str]) -> None:
    def ids(*args: str) -> list[str]:
        result = logs(cli, cli_env, db, "list", "--json", *args)
        assert result.returncode == 0, result.stderr
        return [row["id"] for row in json.loads(result.stdout)]

    assert ids("--model", "opus") == [filled["ratelimited"], filled["overloaded"]]
    assert ids("--status", "529") == [filled["overloaded"]]
    assert ids("--status", "4xx") == [filled["ratelimited"]]
    assert ids("--status", "error") == [filled["ratelimited"], filled["overloaded"]]
    assert ids("--status", "ok", "--limit", "2") == [filled["json"], filled["thinking"]]
    assert ids("--limit", "1") == [filled["ratelimited"]]

    bad = logs(cli, cli_env, db, "list", "--status", "teapot")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "--status" in bad.stderr


def test_list_json_shape(cli: list[str], cli_env: dict[str, str], db: Path, filled: dict[str, str]) -> None:
    rows = json.loads(logs(cli, cli_env, db, "list", "--json", "--model", "sonnet", "--status", "ok").stdout)
    tool = next(r for r in rows if r["id"] == filled["tool"])
    assert tool["time"] == "2026-05-28T20:26:42.000+00:00"
    assert tool["stream"] is True and tool["status"] == 200
    assert (tool["input_tokens"], tool["output_tokens"], tool["stop_reason"]) == (472, 89, "tool_use")
    assert tool["requested_model"] == "claude-sonnet-4-5" and tool["duration_ms"] == 200.0
    assert "request_body" not in tool and "_rowid" not in tool


def test_show_is_readable_and_takes_a_prefix(cli: list[str], cli_env: dict[str, str], db: Path,
                                             filled: dict[str, str]) -> None:
    ident = filled["tool"]
    result = logs(cli, cli_env, db, "show", ident[:-3])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert ident in out and "POST /v1/messages?beta=true" in out
    assert "Okay, let's check the weather for San Francisco, CA:" in out, "the assembled answer"
    assert "get_weather" in out and '"location": "San Francisco, CA"' in out
    assert "x-api-key:" in out and "****WXYZ" in out and KEY not in out
    assert "input 472, output 89" in out and "tool_use" in out
    assert 'model "claude-sonnet-4-5"' in out and "user: hi" in out, "the request, as a conversation"
    assert "raw event stream" in out and "event: message_start" not in out
    raw = logs(cli, cli_env, db, "show", ident, "--raw").stdout
    assert "event: message_start" in raw and '"content": "hi"' in raw, "--raw prints both bodies whole"

    thinking = logs(cli, cli_env, db, "show", filled["thinking"]).stdout
    assert "[thinking] Let me solve this step by step" in thinking and "27 * 453 = 12,231" in thinking


def test_show_json(cli: list[str], cli_env: dict[str, str], db: Path, filled: dict[str, str]) -> None:
    data = json.loads(logs(cli, cli_env, db, "show", filled["tool"], "--json").stdout)
    assert data["message"]["content"][1]["input"] == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert data["request_headers"]["x-api-key"] == "****WXYZ"
    assert data["response_headers"]["content-type"] == "text/event-stream"
    assert data["response_body"].startswith("event: message_start")
    assert data["response_truncated"] is False and data["stream"] is True
    assert json.loads(data["request_body"])["stream"] is True


def test_unknown_or_ambiguous_id_is_one_line(cli: list[str], cli_env: dict[str, str], db: Path,
                                            filled: dict[str, str]) -> None:
    missing = logs(cli, cli_env, db, "show", "nosuchid")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr == "claude-proxy: error: no request with id 'nosuchid' in the log\n"
    common = os.path.commonprefix(list(filled.values()))
    ambiguous = logs(cli, cli_env, db, "show", common)
    assert ambiguous.returncode == 1 and "several requests" in ambiguous.stderr
    assert ambiguous.stderr.count("\n") == 1


def test_missing_log_file_is_one_line(cli: list[str], cli_env: dict[str, str], tmp_path: Path) -> None:
    for command in (["list"], ["show", "abc"], ["stats"], ["tail"]):
        result = logs(cli, cli_env, tmp_path / "nope.db", *command)
        assert result.returncode == 1, command
        assert result.stderr.startswith("claude-proxy: error: no request log at ") and result.stderr.count("\n") == 1


def test_a_file_that_is_not_a_log(cli: list[str], cli_env: dict[str, str], tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    result = logs(cli, cli_env, junk, "list")
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "junk.db" in result.stderr


def test_stats_numbers(cli: list[str], cli_env: dict[str, str], db: Path, filled: dict[str, str]) -> None:
    data = json.loads(logs(cli, cli_env, db, "stats", "--json").stdout)
    assert data["requests"] == 6 and data["errors"] == 2
    # Nearest-rank percentiles over 50, 100, 200, 300, 400, 1000 ms.
    assert data["latency_ms"] == {"p50": 200.0, "p95": 1000.0}
    sonnet = data["models"]["claude-sonnet-4-5-20250929"]
    assert sonnet["requests"] == 3 and sonnet["errors"] == 0
    assert (sonnet["input_tokens"], sonnet["output_tokens"]) == (25 + 472, 15 + 89)
    assert sonnet["latency_ms"] == {"p50": 200.0, "p95": 300.0}
    assert data["models"]["claude-sonnet-4-5"]["input_tokens"] == 12
    opus = data["models"]["claude-opus-4-1"]
    assert (opus["requests"], opus["errors"], opus["input_tokens"]) == (2, 2, 0)
    assert data["tokens"]["input_tokens"] == 25 + 472 + 12
    assert list(data["models"])[0] == "claude-sonnet-4-5-20250929", "busiest model first"

    text = logs(cli, cli_env, db, "stats").stdout
    assert "requests 6" in text and "errors 2" in text and "p50 200ms" in text and "p95 1.00s" in text
    sonnet_line = next(line for line in text.splitlines() if line.startswith("claude-sonnet-4-5-20250929"))
    assert "497" in sonnet_line and "104" in sonnet_line


def test_config_file_names_the_log(cli: list[str], cli_env: dict[str, str], db: Path, filled: dict[str, str],
                                   tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(f"log:\n  path: {db}\n")
    result = run(cli, cli_env, "logs", "list", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 6


def test_default_path_is_the_user_data_dir(cli: list[str], cli_env: dict[str, str], fixtures_dir: Path) -> None:
    default = Path(cli_env["XDG_DATA_HOME"]) / "claude-proxy" / "requests.db"
    write_entries(default, [make_entry(fixtures_dir, "anthropic-stream-basic-text.sse")])
    result = run(cli, cli_env, "logs", "stats", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["requests"] == 1


def test_an_old_schema_log_is_readable(cli: list[str], cli_env: dict[str, str], db: Path) -> None:
    db.parent.mkdir(parents=True)
    conn = connect(db)
    migrate(conn, target=1)
    conn.execute("INSERT INTO requests (id, started_at, method, path, status, duration_ms, requested_model)"
                 " VALUES ('old1', 1700000000.0, 'GET', '/v1/models', 200, 12.0, 'claude-x')")
    conn.close()
    rows = json.loads(logs(cli, cli_env, db, "list", "--json").stdout)
    assert rows[0]["id"] == "old1" and rows[0]["route"] is None
    assert "GET /v1/models" in logs(cli, cli_env, db, "show", "old1").stdout
    assert json.loads(logs(cli, cli_env, db, "stats", "--json").stdout)["requests"] == 1


def _read_until(fd: int, needle: str, proc: subprocess.Popen[bytes], limit: float = 30.0) -> str:
    """Read a pipe until ``needle`` shows up (the limit guards against a hang; it is not a timing assertion)."""
    seen = b""
    deadline = time.monotonic() + limit
    while needle.encode() not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"never saw {needle!r}; got {seen!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"pipe closed (exit {proc.poll()}) before {needle!r}; got {seen!r}")
            seen += chunk
    return seen.decode()


@contextmanager
def tailing(cli: list[str], env: dict[str, str], log_db: str, lines: int) -> Iterator[subprocess.Popen[bytes]]:
    """A running ``logs tail`` that follows every 0.1 s, killed on the way out if still running."""
    proc = subprocess.Popen(cli + ["logs", "tail", "-n", str(lines), "--interval", "0.1", "--log-db", log_db],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                            preexec_fn=default_sigint)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()


def interrupt(proc: subprocess.Popen[bytes]) -> tuple[str, str]:
    """Ctrl-C, then what the process printed after that (stdout, stderr)."""
    proc.send_signal(signal.SIGINT)
    rest, err_rest = proc.communicate(timeout=30)
    return rest.decode(), err_rest.decode()


def test_tail_prints_new_rows_and_stops_quietly_on_ctrl_c(cli: list[str], cli_env: dict[str, str], db: Path,
                                                         fixtures_dir: Path, filled: dict[str, str]) -> None:
    with tailing(cli, cli_env, str(db), 2) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        err = _read_until(proc.stderr.fileno(), "following the request log", proc)
        fresh = make_entry(fixtures_dir, "anthropic-stream-tool-use.sse", path="/v1/messages?fresh=1")
        write_entries(db, [fresh])
        out = _read_until(proc.stdout.fileno(), fresh.id, proc)
        rest, err_rest = interrupt(proc)
    out += rest
    err += err_rest
    lines = out.splitlines()
    assert filled["overloaded"] in lines[0] and filled["ratelimited"] in lines[1], "the last two rows first"
    assert filled["text"] not in out
    fresh_line = next(line for line in lines if fresh.id in line)
    assert "/v1/messages?fresh=1" in fresh_line and "tool_use" in fresh_line and "in=472 out=89" in fresh_line
    assert proc.returncode == 0
    assert "Traceback" not in err and "Aborted" not in err


def test_tail_on_postgres_shows_a_row_committed_after_a_newer_one(cli: list[str], cli_env: dict[str, str],
                                                                 pg_url: str) -> None:
    """On Postgres, transactions (two insert threads, several instances) commit in any order: a row
    numbered before one already printed is printed when its transaction commits, not skipped."""
    import psycopg

    from claude_proxy.requestlog.row import row_values
    from claude_proxy.requestlog.store.pgwriting import PgStoreWriter
    from tests.requestlog.store.conftest import conversation

    shared, early, late = (conversation(1, opening=f"Tail me, exchange {n}")[0] for n in range(3))
    write_pg(pg_url, [shared])  # the tables, and the content every exchange shares
    with tailing(cli, cli_env, pg_url, 0) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        _read_until(proc.stderr.fileno(), "following the request log", proc)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("SET lock_timeout = 5000")
            writer = PgStoreWriter()
            with conn.transaction():
                writer.insert_batch(conn, [writer.prepare(early, row_values(early))])  # numbered, not committed
                write_pg(pg_url, [late])  # numbered after it, committed first
                out = _read_until(proc.stdout.fileno(), late.id, proc)
            out += _read_until(proc.stdout.fileno(), early.id, proc)
        rest, _ = interrupt(proc)
    lines = (out + rest).splitlines()
    printed = [line for line in lines if late.id in line or early.id in line]
    assert len(printed) == 2 and late.id in printed[0] and early.id in printed[1], "each once, as committed"
    assert shared.id not in out and proc.returncode == 0


def test_since_limits_list_and_stats(cli: list[str], cli_env: dict[str, str], db: Path, filled: dict[str, str]) -> None:
    recent = make_entry(started_at=time.time() - 60)
    write_entries(db, [recent])
    rows = json.loads(logs(cli, cli_env, db, "list", "--json", "--since", "10m").stdout)
    assert [r["id"] for r in rows] == [recent.id]
    since = logs(cli, cli_env, db, "stats", "--json", "--since", "2026-05-28T20:26:43+00:00")
    assert json.loads(since.stdout)["requests"] == 5, "thinking, json, both errors and the recent one"
    bad = logs(cli, cli_env, db, "stats", "--since", "yesterday-ish")
    assert bad.returncode == 1 and "--since" in bad.stderr and bad.stderr.count("\n") == 1


def test_show_reads_a_long_agent_request_as_a_conversation(cli: list[str], cli_env: dict[str, str],
                                                          db: Path, fixtures_dir: Path) -> None:
    """A Claude Code-sized request: long system prompt, many tools, tool calls and results."""
    system = "You are an agent. " + "Follow the rules. " * 500 + "THE-END-OF-SYSTEM"
    body = {
        "model": "claude-sonnet-4-5", "max_tokens": 32000, "stream": True,
        "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
        "tools": [{"name": n, "input_schema": {"type": "object"}} for n in ("Bash", "Read", "Edit")],
        "messages": [
            {"role": "user", "content": "List the files"},
            {"role": "assistant", "content": [{"type": "text", "text": "Listing."},
                                              {"type": "tool_use", "id": "toolu_1", "name": "Bash",
                                               "input": {"command": "ls"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                          "content": "README.md\nsetup.py"}]},
        ],
    }
    entry = make_entry(fixtures_dir, "anthropic-stream-basic-text.sse", request_body=json.dumps(body).encode())
    write_entries(db, [entry])
    out = logs(cli, cli_env, db, "show", entry.id).stdout
    assert "system: You are an agent." in out and "THE-END-OF-SYSTEM" not in out and "more chars" not in out
    assert "+" in out and "chars)" in out, "the long system prompt is clipped with a count"
    assert "tools (3): Bash, Read, Edit" in out
    assert "user: List the files" in out
    assert '[tool_use] Bash {"command": "ls"}' in out
    assert "[tool_result toolu_1] README.md" in out
    assert "Hello!" in out, "the assembled answer"
    assert "THE-END-OF-SYSTEM" in logs(cli, cli_env, db, "show", entry.id, "--raw").stdout
