"""`claude-proxy chat -p` as a script would use it: real subprocesses against the fake server."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.chat import TEST_KEY, result_text, tool_results, user_blocks
from tests.support.scripted_anthropic import ErrorReply, Reply, tool_use
from tests.support.sdk_messages import parse_line, parse_stream
from tests.support.signals import default_sigint

pytestmark = pytest.mark.processes


def test_text_output_is_the_final_answer_and_tool_errors_go_to_stderr(fake, run_chat) -> None:
    fake.script(Reply("Let me look first.", tool_use("Nope", {})), Reply("The final answer."))
    proc = run_chat("-p", "what is it?")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "The final answer.\n"
    assert proc.stderr == "claude-proxy: tool error: Nope: unknown tool: Nope\n"
    assert user_blocks(fake.requests[0])[0]["text"] == "what is it?"
    assert result_text(tool_results(fake.requests[1])[0]) == "unknown tool: Nope"


def test_text_mode_reports_each_denied_call_on_stderr(fake, run_chat, workdir) -> None:
    fake.script(Reply(tool_use("Bash", {"command": "touch made.txt"})), Reply("I could not create it."))
    proc = run_chat("-p", "make a file")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "I could not create it.\n"
    (line,) = proc.stderr.splitlines()
    assert line.startswith("claude-proxy: denied: ") and "touch made.txt" in line and "Permission denied" in line
    assert not (workdir / "made.txt").exists()


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
    assert proc.stderr == "", "in json mode errors are in the object, not on stderr"
    out = parse_line(proc.stdout).raw
    assert out["type"] == "result" and out["subtype"] == "success"
    assert out["result"] == "Done." and out["is_error"] is False and out["stop_reason"] == "end_turn"
    assert out["num_turns"] == 2 and isinstance(out["duration_ms"], int) and len(out["session_id"]) == 36
    assert 0 <= out["duration_api_ms"] <= out["duration_ms"]
    assert out["usage"] == {"input_tokens": 40, "output_tokens": 12, "cache_creation_input_tokens": 0,
                            "cache_read_input_tokens": 1000}
    assert out["total_cost_usd"] > 0


def test_stream_json_follows_claude_codes_schema(fake, run_chat) -> None:
    call = tool_use("Bash", {"command": "rm -rf build"})
    fake.script(Reply("Checking.", call), Reply("All good."))
    proc = run_chat("-p", "go", "--output-format", "stream-json", "--verbose")
    assert proc.returncode == 0, proc.stderr
    messages = parse_stream(proc.stdout)
    assert [m.type for m in messages] == ["system", "assistant", "user", "assistant", "result"]
    init, first, results, second, result = (m.raw for m in messages)
    assert init["model"] == fake.requests[0]["model"] and "Bash" in init["tools"]
    assert init["permissionMode"] == "default"
    assert first["message"]["content"] == [{"type": "text", "text": "Checking."}, call]
    assert first["message"]["stop_reason"] == "tool_use" and first["message"]["usage"]["input_tokens"] == 100
    (answer,) = results["message"]["content"]
    assert answer["tool_use_id"] == call["id"] and answer["is_error"] is True
    assert second["message"]["content"] == [{"type": "text", "text": "All good."}]
    assert result["result"] == "All good." and result["num_turns"] == 2
    assert result["permission_denials"] == [{"tool_name": "Bash", "tool_use_id": call["id"],
                                             "tool_input": {"command": "rm -rf build"}}]
    assert len({m.raw["uuid"] for m in messages}) == len(messages)


def test_stream_json_partial_messages_carry_the_raw_api_events(fake, run_chat) -> None:
    fake.script(Reply("Streamed text, in pieces."))
    proc = run_chat("-p", "go", "--output-format", "stream-json", "--include-partial-messages")
    assert proc.returncode == 0, proc.stderr
    messages = parse_stream(proc.stdout)
    raw = [m.raw["event"] for m in messages if m.type == "stream_event"]
    assert raw[0]["type"] == "message_start" and raw[-1] == {"type": "message_stop"}
    deltas = [e["delta"]["text"] for e in raw if e["type"] == "content_block_delta"]
    assert len(deltas) > 1 and "".join(deltas) == "Streamed text, in pieces."
    kinds = [m.type for m in messages]
    assert kinds.index("stream_event") < kinds.index("assistant") < kinds.index("result")


def test_errors_are_result_subtypes_and_exit_1(fake, run_chat) -> None:
    fake.script(Reply(tool_use("Nope", {})))
    proc = run_chat("-p", "go", "--output-format", "json", "--max-turns", "1")
    assert proc.returncode == 1 and "--max-turns" in proc.stderr
    out = parse_line(proc.stdout).raw
    assert out["subtype"] == "error_max_turns" and out["is_error"] is True and out["num_turns"] == 1

    fake.script(ErrorReply(400, "invalid_request_error", "prompt is too long"))
    proc = run_chat("-p", "go", "--output-format", "stream-json")
    assert proc.returncode == 1 and "prompt is too long" in proc.stderr
    result = parse_stream(proc.stdout)[-1].raw
    assert result["subtype"] == "error_during_execution" and result["is_error"] is True
    assert "prompt is too long" in result["errors"][0]


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
                 ("-p", "x", "--include-partial-messages"), ("hello",)]:
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
    (info,) = json.loads(run_chat("--list", "--json").stdout)
    assert info["id"] == first["session_id"] and info["messages"] == 4 and info["title"] == "my name is Ada"
    assert {"cwd", "model", "created", "updated"} <= set(info)


def test_a_connection_error_names_the_url(run_chat, chat_env) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = run_chat("-p", "hi", env={**chat_env, "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}"})
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert f"cannot connect to http://127.0.0.1:{port}/v1/messages" in proc.stderr


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
    proc = subprocess.Popen([*cli, "chat", "-p", "tell a story", "--output-format", "stream-json",
                             "--include-partial-messages"], cwd=workdir,
                            env=chat_env, text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=default_sigint)
    try:
        assert proc.stdout is not None
        while json.loads(proc.stdout.readline()).get("event", {}).get("type") != "content_block_delta":
            pass
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err == "claude-proxy: error: interrupted\n"
    result = parse_line(out.splitlines()[-1]).raw
    assert result["type"] == "result" and result["is_error"] is True and result["errors"] == ["interrupted"]
    db = Path(chat_env["XDG_DATA_HOME"]) / "claude-proxy" / "sessions.db"
    assert db.exists(), err
    (row,) = sqlite3.connect(db).execute("SELECT messages FROM sessions").fetchall()
    saved = Conversation(messages=json.loads(row[0]))
    assert saved.is_valid() and saved.messages[-1]["content"][0]["text"].startswith("Partial")
