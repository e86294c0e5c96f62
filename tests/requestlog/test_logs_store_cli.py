"""`logs sessions`, `search`, `stats --by`, `prune`, and tables readable at 80 columns, as real subprocesses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.requestlog.conftest import make_entry, write_entries
from tests.requestlog.store.conftest import answer, conversation, exchange, text, tool_use

pytestmark = pytest.mark.processes

SESSION = "5b1e7a3c-2222-4c5d-8e9f-abcdefabcdef"
T0 = 1_780_000_000.0


@pytest.fixture
def traced(db: Path) -> dict[str, list[str]]:
    main = conversation(3, session=SESSION, opening="Fix the failing test in test_parser.py", start=T0)
    prompt = "List every caller of parse_header in the repository"
    spawn = exchange([{"role": "user", "content": "Who calls parse_header?"}],
                     answer(text("Asking a subagent."), tool_use("Task", {"prompt": prompt})), started_at=T0 + 10)
    child = exchange([{"role": "user", "content": prompt}], answer(text("Found 3 callers of parse_header.")),
                     started_at=T0 + 11)
    failed = make_entry(status=529, started_at=T0 + 12, requested_model="claude-opus-4-1",
                        response_body=b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')
    write_entries(db, main + [spawn, child, failed])
    return {"main": [e.id for e in main], "spawn": [spawn.id, child.id], "failed": [failed.id]}


def logs(cli: list[str], env: dict[str, str], db: Path, *args: str, columns: str | None = "200") \
        -> subprocess.CompletedProcess[str]:
    env = dict(env)
    if columns is None:
        env.pop("COLUMNS", None)
    else:
        env["COLUMNS"] = columns
    result = subprocess.run(cli + ["logs", *args, "--log-db", str(db)], env=env, capture_output=True, text=True,
                            timeout=60)
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("columns", ["80", None], ids=["80-columns", "piped"])
def test_tables_fit_80_columns_without_collapsing(cli: list[str], cli_env: dict[str, str], db: Path,
                                                   traced: dict[str, list[str]], columns: str | None) -> None:
    for command in (["list"], ["sessions"], ["stats"], ["stats", "--by", "session"]):
        out = logs(cli, cli_env, db, *command, columns=columns).stdout
        assert all(len(line) <= 80 for line in out.splitlines()), (command, out)
        assert "claude-…" not in out and "… " not in out.split("\n", 1)[0], (command, out)
    listed = logs(cli, cli_env, db, "list", columns=columns).stdout
    assert all(ident in listed for ident in traced["main"] + traced["failed"])
    assert "claude-sonnet-4-5" in listed and "529" in listed and "$" in listed
    sessions = logs(cli, cli_env, db, "sessions", columns=columns).stdout
    assert SESSION[:13] in sessions and "turns" in sessions and "$" in sessions


def test_sessions_list_and_one_session(cli: list[str], cli_env: dict[str, str], db: Path,
                                       traced: dict[str, list[str]]) -> None:
    found = json.loads(logs(cli, cli_env, db, "sessions", "--json").stdout)
    by_id = {s["session_id"]: s for s in found}
    main = by_id[SESSION]
    assert main["requests"] == 3 and main["first_prompt"] == "Fix the failing test in test_parser.py"
    assert main["cwd"] == "/home/me/project" and main["cost_usd"] > 0 and main["cache_hit_ratio"] > 0
    spawned = by_id[traced["spawn"][0]]
    assert spawned["requests"] == 2 and spawned["subagents"] == 1
    wide = logs(cli, cli_env, db, "sessions").stdout
    assert "Fix the failing test in test_parser.py" in wide and "/home/me/project" in wide
    turns = json.loads(logs(cli, cli_env, db, "sessions", SESSION[:8], "--json").stdout)
    assert [t["id"] for t in turns] == traced["main"]
    assert all(t["session_id"] == SESSION and t["cost_usd"] > 0 for t in turns)
    child = json.loads(logs(cli, cli_env, db, "show", traced["spawn"][1], "--json").stdout)
    assert child["parent_id"] == traced["spawn"][0]


def test_search_finds_prompts_tool_results_and_answers(cli: list[str], cli_env: dict[str, str], db: Path,
                                                      traced: dict[str, list[str]]) -> None:
    def ids(text: str) -> list[str]:
        return [r["id"] for r in json.loads(logs(cli, cli_env, db, "search", text, "--json").stdout)]

    assert ids("failing test") == [traced["main"][0]]
    assert ids("def f1") == [traced["main"][2]], "a tool result, indexed where it first appears"
    assert ids("3 callers") == [traced["spawn"][1]], "an answer"
    assert ids("no such words anywhere") == []
    out = logs(cli, cli_env, db, "search", "callers of parse_header").stdout
    assert traced["spawn"][1] in out and "callers of parse_header" in out


def test_stats_by_day_session_and_key_with_cost(cli: list[str], cli_env: dict[str, str], db: Path,
                                               traced: dict[str, list[str]]) -> None:
    by_session = json.loads(logs(cli, cli_env, db, "stats", "--by", "session", "--json").stdout)
    assert by_session["groups"][SESSION]["requests"] == 3 and by_session["groups"][SESSION]["cost_usd"] > 0
    assert by_session["cost_usd"] == pytest.approx(sum(g["cost_usd"] for g in by_session["groups"].values()))
    by_key = json.loads(logs(cli, cli_env, db, "stats", "--by", "key", "--json").stdout)
    assert list(by_key["groups"]) == ["****WXYZ"] and by_key["groups"]["****WXYZ"]["requests"] == 6
    by_day = json.loads(logs(cli, cli_env, db, "stats", "--by", "day", "--json").stdout)
    assert sum(g["requests"] for g in by_day["groups"].values()) == 6
    text_out = logs(cli, cli_env, db, "stats", "--by", "day").stdout
    assert "cost $" in text_out and "day" in text_out
    bad = subprocess.run(cli + ["logs", "stats", "--by", "week", "--log-db", str(db)], env=cli_env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "--by" in bad.stderr


def test_show_puts_the_conversation_first_and_headers_after(cli: list[str], cli_env: dict[str, str], db: Path,
                                                           traced: dict[str, list[str]]) -> None:
    out = logs(cli, cli_env, db, "show", traced["main"][1]).stdout
    assert out.index("user: Fix the failing test") < out.index("[tool_use] Read") < out.index("x-api-key:")
    assert SESSION in out and "cost" in out


def test_prune_removes_old_rows(cli: list[str], cli_env: dict[str, str], db: Path,
                                traced: dict[str, list[str]]) -> None:
    result = json.loads(logs(cli, cli_env, db, "prune", "--older-than-days", "1", "--json").stdout)
    assert result["rows"] == 6 and result["content"] > 0
    assert json.loads(logs(cli, cli_env, db, "list", "--json").stdout) == []
    nothing = subprocess.run(cli + ["logs", "prune", "--log-db", str(db)], env=cli_env, capture_output=True,
                             text=True, timeout=60)
    assert nothing.returncode == 1 and "log.retention" in nothing.stderr and "Traceback" not in nothing.stderr
