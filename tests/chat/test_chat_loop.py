"""The agent loop in-process against the scripted fake server: results, order, errors, cancellation."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from claude_proxy.chat.ui import AgentUI
from claude_proxy.settings import parse_settings
from claude_proxy.tools import registry
from claude_proxy.tools.base import Tool, ToolContext, ToolResult
from tests.support.chat import chat_settings, make_agent, result_text, tool_results, user_blocks
from tests.support.scripted_anthropic import ErrorReply, Reply, ScriptedAnthropic, thinking, tool_use


class Barrier(Tool):
    """Read-only; each call waits until ``parties`` calls are running at once."""

    name = "Barrier"
    description = "Wait for the others."
    input_schema = {"type": "object", "properties": {}}
    read_only = True

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.arrived = 0
        self.all_here = asyncio.Event()

    async def run(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        self.arrived += 1
        if self.arrived == self.parties:
            self.all_here.set()
        await asyncio.wait_for(self.all_here.wait(), 10)
        return ToolResult("met")


class Answering(AgentUI):
    """A front end that answers every permission question the same way and records them."""

    interactive = True

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.asked: list[str] = []
        self.remembered: list[str] = []

    async def ask(self, call, decision):  # type: ignore[no-untyped-def]
        self.asked.append(call.summary)
        return self.answer

    async def rule_remembered(self, rule: str) -> None:
        self.remembered.append(rule)


class Streaming(AgentUI):
    """Notes when the first piece of text has streamed in."""

    def __init__(self) -> None:
        self.got_text = asyncio.Event()

    def text_delta(self, text: str) -> None:
        self.got_text.set()


async def test_results_come_back_in_call_order_with_errors(fake, workdir: Path) -> None:
    (workdir / "a.txt").write_text("alpha\n")
    calls = [tool_use("Read", {"file_path": "a.txt"}), tool_use("Nope", {}),
             tool_use("Read", {"file_path": "missing.txt"}), tool_use("Glob", {"pattern": "*.txt"})]
    fake.script(Reply("Let me look.", *calls), Reply("All done."))
    agent = make_agent(fake, workdir, registry.all_tools())
    result = await agent.run("look around")
    assert result.stop_reason == "end_turn" and result.text == "All done." and result.num_turns == 2
    results = tool_results(fake.requests[1])
    assert [r["tool_use_id"] for r in results] == [c["id"] for c in calls]
    texts = [result_text(r) for r in results]
    assert "alpha" in texts[0] and texts[1] == "unknown tool: Nope"
    assert "does not exist" in texts[2] and texts[3].endswith("a.txt")
    assert [bool(r.get("is_error")) for r in results] == [False, True, True, False]
    assert agent.conversation.is_valid()


async def test_read_only_calls_in_one_message_run_concurrently(fake, workdir: Path) -> None:
    barrier = Barrier(3)
    fake.script(Reply(*[tool_use("Barrier", {}) for _ in range(3)]), Reply("met everyone"))
    result = await make_agent(fake, workdir, [barrier], ui=Answering("yes")).run("meet")
    assert result.text == "met everyone"
    assert [result_text(r) for r in tool_results(fake.requests[1])] == ["met"] * 3


async def test_non_interactive_ask_is_denied_and_model_told_why(fake, workdir: Path) -> None:
    fake.script(Reply(tool_use("Bash", {"command": "touch made.txt"})), Reply("ok, I could not"))
    result = await make_agent(fake, workdir, registry.all_tools()).run("make a file")
    assert result.text == "ok, I could not"
    assert not (workdir / "made.txt").exists(), "the denied command did not run"
    (denied,) = tool_results(fake.requests[1])
    assert denied["is_error"] is True
    assert "--allowed-tools" in result_text(denied) and "denied" in result_text(denied).lower()


async def test_user_answers_no_then_always(fake, workdir: Path) -> None:
    fake.script(Reply(tool_use("Bash", {"command": "touch nope.txt"})), Reply("understood"))
    ui = Answering("no")
    agent = make_agent(fake, workdir, registry.all_tools(), ui=ui)
    await agent.run("go")
    assert ui.asked == ["Bash(touch nope.txt)"] and not (workdir / "nope.txt").exists()
    assert "user denied" in result_text(tool_results(fake.requests[1])[0])

    writes = [tool_use("Write", {"file_path": "one.txt", "content": "1\n"}),
              tool_use("Write", {"file_path": "two.txt", "content": "2\n"})]
    fake.script(Reply(*writes), Reply("written"))
    agent.ui = agent.runner.ui = ui = Answering("always")
    await agent.run("write two files")
    assert ui.asked == ["Write(one.txt)", "Write(two.txt)"], "always allows that file only, not the workspace"
    assert (workdir / "one.txt").read_text() == "1\n" and (workdir / "two.txt").read_text() == "2\n"
    assert ui.remembered == ["Edit(./one.txt)", "Edit(./two.txt)"]
    assert agent.runner.context.session.session_allow == ["Edit(./one.txt)", "Edit(./two.txt)"]

    fake.script(Reply(tool_use("Write", {"file_path": "one.txt", "content": "again\n"})), Reply("rewritten"))
    await agent.run("write one again")
    assert ui.asked == ["Write(one.txt)", "Write(two.txt)"], "the remembered file rule covers the same file"
    assert (workdir / "one.txt").read_text() == "again\n"


async def test_max_turns_stops_and_keeps_history_valid(fake, workdir: Path) -> None:
    fake.script(*[Reply(tool_use("LS", {"path": "."})) for i in range(5)])
    agent = make_agent(fake, workdir, registry.all_tools(), max_turns=2)
    result = await agent.run("loop forever")
    assert result.stop_reason == "max_turns" and result.is_error and result.num_turns == 2
    assert len(fake.requests) == 2
    assert agent.conversation.is_valid()
    assert "max-turns" in result_text(agent.conversation.messages[-1]["content"][0])


@pytest.mark.parametrize("status,words", [(401, "authentication"), (429, "rate limited"), (529, "overloaded")])
async def test_api_errors_are_one_line_and_the_session_survives(fake, workdir: Path, status: int, words: str) -> None:
    fake.script(ErrorReply(status, message="upstream says no"), Reply("second try works"))
    agent = make_agent(fake, workdir, registry.all_tools())
    result = await agent.run("first")
    assert result.error is not None and "\n" not in result.error
    assert str(status) in result.error and words in result.error and "upstream says no" in result.error
    assert agent.conversation.messages == [], "a failed first request leaves no dangling prompt"
    result = await agent.run("again")
    assert result.text == "second try works"
    assert user_blocks(fake.requests[1])[0]["text"] == "again"


async def test_the_sdk_retries_before_an_error_is_shown(fake, workdir: Path) -> None:
    quick = {"retry-after-ms": "10"}
    fake.script(ErrorReply(529, "overloaded_error", "Overloaded", quick), ErrorReply(429, headers=quick),
                Reply("third time lucky"))
    agent = make_agent(fake, workdir, [], settings=chat_settings(fake, max_retries=2))
    assert (await agent.run("hi")).text == "third time lucky"
    assert len(fake.requests) == 3


async def test_error_event_mid_stream_is_one_line(fake, workdir: Path) -> None:
    fake.script(Reply("Half of an answer", "never sent", error_after=1), Reply("better now"))
    agent = make_agent(fake, workdir, registry.all_tools())
    result = await agent.run("go")
    assert result.error == "API error 529: the API is overloaded: try again shortly (Overloaded)"
    assert agent.conversation.messages == [], "the failed first request is rolled back"
    assert (await agent.run("retry")).text == "better now"


async def test_connection_refused_is_one_line(workdir: Path) -> None:
    with ScriptedAnthropic() as gone:
        url = gone.url
    settings = parse_settings({"chat": {"max_retries": 0, "base_url": url, "api_key": "sk-x"}})
    result = await make_agent(None, workdir, [], settings=settings).run("hello?")
    assert result.error is not None and "cannot connect" in result.error and "\n" not in result.error


async def test_ctrl_c_while_streaming_keeps_a_valid_history(fake, workdir: Path) -> None:
    fake.script(Reply("Partial answer that goes on and on", hang_after=0))
    ui = Streaming()
    agent = make_agent(fake, workdir, registry.all_tools(), ui=ui)
    task = asyncio.create_task(agent.run("tell me a story"))
    await asyncio.wait_for(ui.got_text.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    conversation = agent.conversation
    assert conversation.is_valid()
    assert [m["role"] for m in conversation.messages] == ["user", "assistant"]
    assert conversation.messages[1]["content"][0]["text"].startswith("Partial")

    fake.script(Reply("fine"))
    assert (await agent.run("never mind")).text == "fine"
    sent = fake.requests[1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert "interrupted" in sent[2]["content"][0]["text"] and sent[2]["content"][-1]["text"] == "never mind"


def _running(marker: str) -> list[int]:
    """Live ``sleep`` processes whose argument holds ``marker``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if argv[0].endswith(b"sleep") and marker.encode() in b" ".join(argv) and state != "Z":
                pids.append(int(entry.name))
    return pids


async def test_ctrl_c_while_a_tool_runs_kills_it_and_answers_every_tool_use(fake, workdir: Path) -> None:
    (workdir / "a.txt").write_text("alpha\n")
    marker = f"{os.getpid()}7"
    calls = [tool_use("Read", {"file_path": "a.txt"}),
             tool_use("Bash", {"command": f"sleep 4{marker} & sleep 5{marker}; touch after.txt"}),
             tool_use("Write", {"file_path": "never.txt", "content": "x"})]
    fake.script(Reply("Working.", *calls))
    agent = make_agent(fake, workdir, registry.all_tools(), ui=Answering("yes"))
    task = asyncio.create_task(agent.run("go"))
    for _ in range(200):
        if len(_running(marker)) >= 2:
            break
        await asyncio.sleep(0.05)
    assert len(_running(marker)) >= 2, "both sleeps started"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        if not _running(marker):
            break
        await asyncio.sleep(0.05)
    assert _running(marker) == [], "the command's whole process group was killed"
    assert not (workdir / "after.txt").exists() and not (workdir / "never.txt").exists()
    conversation = agent.conversation
    assert conversation.is_valid()
    results = conversation.messages[-1]["content"]
    assert [r["tool_use_id"] for r in results] == [c["id"] for c in calls]
    assert "alpha" in result_text(results[0]) and not results[0].get("is_error")
    assert results[1]["is_error"] and results[2]["is_error"] and "Interrupted" in result_text(results[1])

    fake.script(Reply("ok"))
    await agent.run("stop that")
    sent = fake.requests[1]["messages"][-1]["content"]
    assert [b["type"] for b in sent] == ["tool_result"] * 3 + ["text", "text"]


async def test_cache_control_on_system_last_tool_and_latest_turns(fake, workdir: Path) -> None:
    fake.script(Reply(tool_use("LS", {"path": "."})), Reply("done"))
    await make_agent(fake, workdir, registry.all_tools()).run("hi")
    first, second = fake.requests
    assert first["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in first["tools"][0] and first["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert first["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    marked = [i for i, m in enumerate(second["messages"])
              if isinstance(m["content"], list) and "cache_control" in m["content"][-1]]
    assert marked == [0, 2], "the latest message and the user turn before it"
    assert sum("cache_control" in b for m in second["messages"] for b in m["content"]) == 2


async def test_thinking_is_requested_and_kept_with_its_signature(fake, workdir: Path) -> None:
    fake.script(Reply(thinking("let me think", "sig-123"), tool_use("LS", {})), Reply("thought"))
    agent = make_agent(fake, workdir, registry.all_tools(),
                       settings=chat_settings(fake, thinking_budget=2048, max_tokens=1024))
    await agent.run("think")
    first, second = fake.requests
    assert first["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert first["max_tokens"] > 2048
    assert second["messages"][1]["content"][0] == {"type": "thinking", "thinking": "let me think",
                                                   "signature": "sig-123"}
