"""`claude-proxy chat -p` as a script would use it: real subprocesses against the fake server."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.chat import TEST_KEY, result_text, tool_results, user_blocks
from tests.support.scripted_anthropic import ErrorReply, Reply, tool_use
from tests.support.signals import default_sigint

pytestmark = pytest.mark.processes


def test_text_output_is_only_the_final_answer(fake, run_chat) -> None:
    fake.script(Reply("Let me look first.", tool_use("Nope", {})), Reply("The final answer."))
    proc = run_chat("-p", "what is it?")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "The final answer.\n"
    assert proc.stderr == ""
    assert user_blocks(fake.requests[0])[0]["text"] == "what is it?"
    assert result_text(tool_results(fake.requests[1])[0]) == "unknown tool: Nope"


def test_piped_stdin_is_added_to_the_prompt(fake, run_chat) -> None:
    fake.script(Reply("Looks fine."))
    proc = run_chat("-p", "review this", stdin="diff --git a/x b/x\n+new line\n")
    assert proc.returncode == 0, proc.stderr
    assert user_blocks(fake.requests[0])[0]["text"] == "review this\n\ndiff --git a/x b/x\n+new line\n"


def test_prompt_from_stdin_alone(fake, run_chat) -> None:
    fake.script(Reply("4"))
    proc = run_chat("-p", stdin="what is 2+2?\n")
    assert proc.returncode == 0 and proc.stdout == "4\n"
    assert user_blocks(fake.requests[0])[0]["text"] == "what is 2+2?\n"


def test_json_output(fake, run_chat) -> None:
    fake.script(Reply(tool_use("Nope", {}), usage={"input_tokens": 10, "output_tokens": 5}),
                Reply("Done.", usage={"input_tokens": 30, "output_tokens": 7, "cache_read_input_tokens": 1000}))
    proc = run_chat("-p", "go", "--output-format", "json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["result"] == "Done." and out["is_error"] is False and out["stop_reason"] == "end_turn"
    assert out["num_turns"] == 2 and isinstance(out["duration_ms"], int) and len(out["session_id"]) == 36
    assert out["usage"] == {"input_tokens": 40, "output_tokens": 12, "cache_creation_input_tokens": 0,
                            "cache_read_input_tokens": 1000}
    assert out["total_cost_usd"] > 0


def test_stream_json_output_has_one_event_per_line(fake, run_chat) -> None:
    call = tool_use("Nope", {"x": 1})
    fake.script(Reply("Checking.", call), Reply("All good."))
    proc = run_chat("-p", "go", "--output-format", "stream-json")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[0] == "system" and types[-1] == "result"
    assert "".join(e["text"] for e in events if e["type"] == "text_delta") == "Checking.All good."
    (used,) = [e for e in events if e["type"] == "tool_use"]
    (result,) = [e for e in events if e["type"] == "tool_result"]
    assert used == {"type": "tool_use", "id": call["id"], "name": "Nope", "input": {"x": 1}}
    assert result["tool_use_id"] == call["id"] and result["is_error"] is True
    assert types.index("tool_use") < types.index("tool_result") < len(types) - 1
    assert events[-1]["result"] == "All good." and events[-1]["session_id"] == events[0]["session_id"]


def test_api_error_exits_1_with_one_line(fake, run_chat) -> None:
    fake.script(ErrorReply(401, "authentication_error", "invalid x-api-key"))
    proc = run_chat("-p", "hi")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "401" in proc.stderr and "invalid x-api-key" in proc.stderr
    assert TEST_KEY not in proc.stderr


def test_usage_errors_exit_2(fake, run_chat) -> None:
    for args in [("-p",), ("-p", "x", "--output-format", "yaml"), ("-p", "x", "--resume", "no-such-session"),
                 ("-p", "x", "--allowed-tools", "Bash(ls:*"), ("-p", "x", "--thinking", "100"),
                 ("hello",)]:
        proc = run_chat(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert fake.requests == []


def test_sessions_continue_and_list(fake, run_chat) -> None:
    fake.script(Reply("Nice to meet you, Ada."))
    first = json.loads(run_chat("-p", "my name is Ada", "--output-format", "json").stdout)
    fake.script(Reply("Your name is Ada."))
    second = json.loads(run_chat("--continue", "-p", "what is my name?", "--output-format", "json").stdout)
    assert second["session_id"] == first["session_id"]
    sent = fake.requests[1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"][0]["text"] == "Nice to meet you, Ada."

    listing = run_chat("--list")
    assert listing.returncode == 0
    (line,) = listing.stdout.splitlines()
    assert line.startswith(first["session_id"]) and "my name is Ada" in line and " 4 msgs" in line


def test_auth_token_is_sent_as_bearer(fake, run_chat, chat_env) -> None:
    env = {k: v for k, v in chat_env.items() if k != "ANTHROPIC_API_KEY"}
    env["ANTHROPIC_AUTH_TOKEN"] = "gateway-token-5555"
    fake.script(Reply("hi"))
    assert run_chat("-p", "hi", env=env).returncode == 0
    headers = fake.headers[0]
    assert headers["authorization"] == "Bearer gateway-token-5555" and "x-api-key" not in headers


def test_without_credentials(fake, run_chat, chat_env) -> None:
    env = {k: v for k, v in chat_env.items() if k not in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")}
    proc = run_chat("-p", "hi", env=env)
    assert proc.returncode == 1 and "no credentials" in proc.stderr and proc.stderr.count("\n") == 1

    fake.script(Reply("through the gateway"))
    proc = run_chat("-p", "hi", env={**env, "ANTHROPIC_BASE_URL": fake.url})
    assert proc.returncode == 0 and proc.stdout == "through the gateway\n"
    assert "authorization" not in fake.headers[0] and "x-api-key" not in fake.headers[0]


def test_tool_loop_writes_and_edits_files_and_denied_commands_do_not_run(fake, run_chat, workdir) -> None:
    (workdir / "keep.txt").write_text("precious\n")
    calls = [
        tool_use("Write", {"file_path": "notes.md", "content": "# Notes\n\nfirst draft\n"}),
        tool_use("Edit", {"file_path": "notes.md", "old_string": "first draft", "new_string": "final text"}),
        tool_use("Bash", {"command": "touch allowed.txt"}),
        tool_use("Bash", {"command": "rm keep.txt"}),
    ]
    fake.script(Reply("Working on it.", *calls), Reply("Notes written; I was not allowed to delete keep.txt."))
    proc = run_chat("-p", "write notes", "--permission-mode", "acceptEdits", "--allowed-tools", "Grep, Bash(touch:*)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Notes written; I was not allowed to delete keep.txt.\n"
    assert (workdir / "notes.md").read_text() == "# Notes\n\nfinal text\n"
    assert (workdir / "allowed.txt").exists()
    assert (workdir / "keep.txt").read_text() == "precious\n", "the command that needed approval did not run"
    results = tool_results(fake.requests[1])
    assert [r["tool_use_id"] for r in results] == [c["id"] for c in calls]
    assert [bool(r.get("is_error")) for r in results] == [False, False, False, True]
    assert "Permission denied" in result_text(results[3]) and "--allowed-tools" in result_text(results[3])


def test_sigint_mid_stream_exits_130_and_saves_a_valid_session(fake, cli, chat_env, workdir) -> None:
    import signal
    import sqlite3
    from pathlib import Path

    from claude_proxy.chat.conversation import Conversation

    fake.script(Reply("Partial story that never ends", hang_after=0))
    proc = subprocess.Popen([*cli, "chat", "-p", "tell a story", "--output-format", "stream-json"], cwd=workdir,
                            env=chat_env, text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=default_sigint)
    try:
        assert proc.stdout is not None
        while json.loads(proc.stdout.readline())["type"] != "text_delta":
            pass
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err, err
    db = Path(chat_env["XDG_DATA_HOME"]) / "claude-proxy" / "sessions.db"
    assert db.exists(), err
    (row,) = sqlite3.connect(db).execute("SELECT messages FROM sessions").fetchall()
    saved = Conversation(messages=json.loads(row[0]))
    assert saved.is_valid() and saved.messages[-1]["content"][0]["text"].startswith("Partial")
