"""One-shot runs in-process (the CLI's own `run_oneshot`): flags, sub-agents, sessions, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claude_proxy.chat.sessions import SessionStore
from claude_proxy.settings import parse_settings
from tests.support.chat import TEST_KEY, chat_settings, oneshot, result_text, tool_results, user_blocks
from tests.support.scripted_anthropic import ErrorReply, Reply, tool_use


async def test_flags_reach_the_request(fake, workdir: Path) -> None:
    fake.script(Reply("hi"))
    code, _, out = await oneshot(fake, workdir, "hi", model="claude-haiku-4-5", max_tokens=77)
    assert code == 0 and out == "hi\n"
    assert fake.requests[0]["model"] == "claude-haiku-4-5" and fake.requests[0]["max_tokens"] == 77
    assert fake.headers[0]["authorization"] == f"Bearer {TEST_KEY}"


async def test_system_prompt_flags(fake, workdir: Path) -> None:
    fake.script(Reply("a"), Reply("b"))
    await oneshot(fake, workdir, "x", append_system_prompt="Always answer in French.")
    system = fake.requests[0]["system"][0]["text"]
    assert f"Working directory: {workdir}" in system and system.endswith("Always answer in French.")
    assert "Is a git repository: no" in system
    await oneshot(fake, workdir, "x", system="You are terse.")
    assert fake.requests[1]["system"][0]["text"] == "You are terse."


async def test_json_reports_api_errors(fake, workdir: Path) -> None:
    fake.script(ErrorReply(529, "overloaded_error", "Overloaded"))
    code, error, out = await oneshot(fake, workdir, "hi", "json")
    assert code == 1 and error is not None and "529" in error
    payload = json.loads(out)
    assert payload["is_error"] is True and payload["subtype"] == "error_during_execution" and payload["error"] == error


async def test_json_lists_the_denied_calls(fake, workdir: Path) -> None:
    (workdir / "keep.txt").write_text("keep\n")
    rm = tool_use("Bash", {"command": "rm keep.txt"})
    fake.script(Reply(tool_use("LS", {"path": "."}), rm), Reply("could not delete"))
    code, _, out = await oneshot(fake, workdir, "clean up", "json")
    assert code == 0 and (workdir / "keep.txt").exists()
    denials = json.loads(out)["permission_denials"]
    assert denials == [{"tool_name": "Bash", "tool_use_id": rm["id"], "tool_input": {"command": "rm keep.txt"}}]


async def test_max_turns_is_a_failure(fake, workdir: Path) -> None:
    fake.script(Reply(tool_use("Nope", {})), Reply(tool_use("Nope", {})))
    code, error, out = await oneshot(fake, workdir, "loop", "json", max_turns=1)
    assert code == 1 and "--max-turns" in (error or "")
    payload = json.loads(out)
    assert payload["subtype"] == "error_max_turns" and payload["num_turns"] == 1 and len(fake.requests) == 1


async def test_resume_by_id_prefix(fake, workdir: Path) -> None:
    fake.script(Reply("first answer"), Reply("other"), Reply("resumed"))
    _, _, out = await oneshot(fake, workdir, "first", "json")
    first = json.loads(out)["session_id"]
    await oneshot(fake, workdir, "unrelated", "json")
    _, _, out = await oneshot(fake, workdir, "back", "json", resume=first[:8])
    assert json.loads(out)["session_id"] == first
    assert [user_blocks(fake.requests[2], i)[0]["text"] for i in (0, 2)] == ["first", "back"]
    saved = SessionStore(workdir.parent / "sessions.db").load_sync(first)
    assert saved.is_valid() and len(saved.messages) == 4 and saved.costs.total.input_tokens == 200


async def test_task_runs_a_subagent_with_fresh_context_and_read_only_tools(fake, workdir: Path) -> None:
    task = tool_use("Task", {"description": "find it", "prompt": "Find where foo is defined."})
    fake.script(Reply("Delegating.", task), Reply("foo is defined in lib.py"), Reply("It is in lib.py."))
    code, _, out = await oneshot(fake, workdir, "where is foo?")
    assert code == 0 and out == "It is in lib.py.\n"
    sub = fake.requests[1]
    assert [m["role"] for m in sub["messages"]] == ["user"]
    assert user_blocks(sub)[0]["text"] == "Find where foo is defined."
    assert "sub-agent" in sub["system"][0]["text"]
    offered = {t["name"] for t in sub.get("tools", [])}
    assert not offered & {"Task", "Agent", "Bash", "Write", "Edit"}
    (answer,) = tool_results(fake.requests[2])
    assert answer["tool_use_id"] == task["id"] and result_text(answer) == "foo is defined in lib.py"


async def test_agent_alias_and_subagent_failure(fake, workdir: Path) -> None:
    call = tool_use("Agent", {"description": "d", "prompt": "p"})
    fake.script(Reply(call), ErrorReply(500, "api_error", "boom"), Reply("the helper failed"))
    code, _, out = await oneshot(fake, workdir, "go", settings=chat_settings(
        fake, sessions_path=str(workdir.parent / "s.db")))
    assert code == 0 and out == "the helper failed\n"
    (failed,) = tool_results(fake.requests[2])
    assert failed["is_error"] is True and "sub-agent failed" in result_text(failed) and "500" in result_text(failed)


async def test_webfetch_prompt_is_answered_by_the_small_model(fake, workdir: Path, aiohttp_server) -> None:
    from aiohttp import web

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html><body><h1>Prices</h1><p>The answer is 42.</p></body></html>",
                            content_type="text/html")

    app = web.Application()
    app.router.add_get("/page", page)
    site = await aiohttp_server(app)
    url = f"http://127.0.0.1:{site.port}/page"
    fetch = tool_use("WebFetch", {"url": url, "prompt": "What is the answer?"})
    fake.script(Reply(fetch), Reply("The page says 42."), Reply("It is 42."))
    settings = parse_settings({
        "chat": {"max_retries": 0, "base_url": fake.url, "api_key": TEST_KEY, "small_model": "claude-haiku-4-5",
                 "sessions_path": str(workdir.parent / "s.db")},
        "tools": {"web": {"allowed_networks": ["127.0.0.0/8"]}},
    })
    code, _, out = await oneshot(fake, workdir, "what is the answer on that page?", settings=settings,
                                 allowed_tools=["WebFetch"])
    assert code == 0 and out == "It is 42.\n"
    small = fake.requests[1]
    assert small["model"] == "claude-haiku-4-5" and not small.get("stream")
    asked = user_blocks(small)[0]["text"]
    assert "The answer is 42." in asked and "What is the answer?" in asked
    (answer,) = tool_results(fake.requests[2])
    assert answer["tool_use_id"] == fetch["id"] and result_text(answer) == "The page says 42."


async def test_resuming_a_session_killed_mid_turn_answers_its_dangling_calls(fake, workdir: Path) -> None:
    from claude_proxy.chat.conversation import Conversation

    store = SessionStore(workdir.parent / "sessions.db")
    call = tool_use("Bash", {"command": "make"})
    await store.save(Conversation(id="killed-run", cwd=str(workdir), model="claude-sonnet-4-6", messages=[
        {"role": "user", "content": [{"type": "text", "text": "build it"}]},
        {"role": "assistant", "content": [call]},
    ]))
    fake.script(Reply("Picking up again."))
    code, _, out = await oneshot(fake, workdir, "go on", resume="killed-run")
    assert code == 0 and out == "Picking up again.\n"
    (dangling,) = tool_results(fake.requests[0])
    assert dangling["tool_use_id"] == call["id"] and dangling["is_error"] is True
    assert user_blocks(fake.requests[0])[-1]["text"] == "go on"


async def test_json_cost_covers_the_subagent_and_only_this_run(fake, workdir: Path) -> None:
    fake.script(Reply("earlier", usage={"input_tokens": 1_000_000, "output_tokens": 0}))
    _, _, out = await oneshot(fake, workdir, "first", "json")
    first = json.loads(out)
    assert first["total_cost_usd"] == pytest.approx(3.0)  # sonnet input: $3 per million tokens

    task = tool_use("Task", {"description": "d", "prompt": "p"})
    fake.script(Reply(task, usage={"input_tokens": 0, "output_tokens": 0}),
                Reply("sub", usage={"input_tokens": 0, "output_tokens": 1_000_000}),
                Reply("done", usage={"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 1_000_000}))
    _, _, out = await oneshot(fake, workdir, "again", "json", continue_latest=True)
    second = json.loads(out)
    assert second["session_id"] == first["session_id"]
    assert second["usage"]["cache_read_input_tokens"] == 1_000_000 and second["usage"]["output_tokens"] == 0
    assert second["total_cost_usd"] == pytest.approx(15.0 + 0.30)  # the sub-agent's output plus this run's cache reads


@pytest.mark.processes
async def test_chat_through_claude_proxy_serve(fake, workdir: Path, cli_env: dict[str, str]) -> None:
    from tests.support.proxy_process import ServeProcess

    env = {**cli_env, "ANTHROPIC_API_KEY": "sk-ant-upstream-key-4321"}
    serve = await ServeProcess(["--upstream", fake.url, "--log-db", str(workdir.parent / "requests.db")], env,
                               cwd=workdir.parent).start()
    try:
        write = tool_use("Write", {"file_path": "via-proxy.txt", "content": "through the proxy\n"})
        fake.script(Reply("Writing.", write), Reply("Written through the proxy."))
        settings = parse_settings({"chat": {"max_retries": 0, "base_url": serve.url,
                                            "sessions_path": str(workdir.parent / "s.db")}})
        code, error, out = await oneshot(fake, workdir, "write it", settings=settings, permission_mode="acceptEdits")
    finally:
        await serve.stop()
    assert code == 0, error
    assert out == "Written through the proxy.\n"
    assert (workdir / "via-proxy.txt").read_text() == "through the proxy\n"
    assert len(fake.requests) == 2 and tool_results(fake.requests[1])[0]["tool_use_id"] == write["id"]
    seen = fake.headers[0].get("x-api-key") or fake.headers[0].get("authorization", "")
    assert seen.endswith("sk-ant-upstream-key-4321"), "the proxy added its upstream key; chat sent none"


async def test_an_unwritable_sessions_database_is_a_warning_not_a_failure(fake, workdir: Path, capsys) -> None:
    blocker = workdir.parent / "not-a-dir"
    blocker.write_text("")
    fake.script(Reply("still answered"))
    settings = chat_settings(fake, sessions_path=str(blocker / "sessions.db"))
    code, _, out = await oneshot(fake, workdir, "hi", settings=settings)
    assert code == 0 and out == "still answered\n"
    err = capsys.readouterr().err
    assert err.startswith("claude-proxy: warning: the session was not saved") and err.count("\n") == 1
