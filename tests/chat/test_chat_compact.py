"""Compaction against the scripted model: /compact, automatic compaction, and the full history kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from claude_proxy.chat.compact import SUMMARY_REQUEST
from claude_proxy.chat.runtime import ChatOptions, ChatRuntime
from claude_proxy.chat.sessions import SessionStore
from claude_proxy.chat.ui import AgentUI
from tests.support.chat import chat_settings, oneshot, user_blocks
from tests.support.scripted_anthropic import Reply, tool_use
from tests.support.sdk_messages import parse_stream

TODO = {"content": "Fix the parser", "activeForm": "Fixing the parser", "status": "in_progress"}


class Recorder(AgentUI):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def compacted(self, trigger: str, tokens: int, messages: int) -> None:
        self.events.append(("compacted", (trigger, tokens, messages)))

    def notice(self, text: str) -> None:
        self.events.append(("notice", text))


def _text(request: dict[str, Any]) -> str:
    return "".join(b.get("text", "") for b in user_blocks(request))


async def test_compact_keeps_the_working_state_and_the_store_keeps_everything(fake, workdir: Path) -> None:
    (workdir / "a.txt").write_text("alpha contents\n")
    fake.script(Reply(tool_use("TodoWrite", {"todos": [TODO]}), tool_use("Read", {"file_path": "a.txt"})),
                Reply(tool_use("Write", {"file_path": "b.txt", "content": "new\n"})),
                Reply("Done with the first part."),
                Reply("SUMMARY: the user wants the parser fixed; a.txt read, b.txt written."),
                Reply("Continuing from the summary."))
    settings = chat_settings(fake, sessions_path=str(workdir.parent / "sessions.db"))
    ui = Recorder()
    runtime = ChatRuntime(settings, ChatOptions(cwd=workdir, permission_mode="acceptEdits"), ui)
    await runtime.start()
    agent = runtime.agent
    assert agent is not None
    await agent.run("fix the parser")
    before = [dict(m) for m in runtime.conversation.messages]
    assert len(before) == 6

    await agent.compact("Focus on the parser tests.")
    ask = fake.requests[3]
    assert ask["tool_choice"] == {"type": "none"} and ask["tools"] == fake.requests[2]["tools"]
    assert ask["system"] == fake.requests[2]["system"], "same prefix: the summary request reads the cache"
    instructions = "\n\nAdditional instructions from the user:\nFocus on the parser tests."
    assert _text(ask).endswith(SUMMARY_REQUEST + instructions)
    assert len(ask["messages"]) == 7

    (only,) = runtime.conversation.messages
    text = only["content"][0]["text"]
    assert "SUMMARY: the user wants the parser fixed" in text
    assert "Fixing the parser" in text, "the todo list is kept verbatim"
    assert "Files read:\n- a.txt" in text and "Files edited or created:\n- b.txt" in text
    assert "alpha contents" in text, "the last tool results are kept"
    kind, (trigger, _, replaced) = ui.events[-1]
    assert (kind, trigger, replaced) == ("compacted", "manual", 6)

    await agent.run("and now the tests")
    sent = fake.requests[4]["messages"]
    assert len(sent) == 1 and sent[0]["role"] == "user"
    assert "SUMMARY" in _text(fake.requests[4]) and _text(fake.requests[4]).endswith("and now the tests")
    await runtime.save()
    await runtime.close()
    saved = await SessionStore(settings.chat.sessions_db()).load(runtime.conversation.id)
    assert saved.archive == before, "the session store keeps the full history"
    assert len(saved.messages) == 2 and saved.is_valid()


async def test_automatic_compaction_before_a_prompt_that_would_pass_the_share(fake, workdir: Path) -> None:
    fake.script(Reply("first answer", usage={"input_tokens": 700, "output_tokens": 10}),
                Reply("SUMMARY of the first exchange."), Reply("second answer"))
    settings = chat_settings(fake, sessions_path=str(workdir.parent / "sessions.db"),
                             context_window=1000, auto_compact=0.7)
    ui = Recorder()
    runtime = ChatRuntime(settings, ChatOptions(cwd=workdir), ui)
    await runtime.start()
    assert runtime.agent is not None
    await runtime.agent.run("hello")
    result = await runtime.agent.run("tell me more")
    await runtime.close()
    assert result.text == "second answer"
    assert _text(fake.requests[1]).endswith(SUMMARY_REQUEST), "the second request asked for the summary"
    (message,) = fake.requests[2]["messages"]
    assert "SUMMARY of the first exchange." in _text(fake.requests[2]) and _text(fake.requests[2]).endswith(
        "tell me more")
    (event,) = [e for e in ui.events if e[0] == "compacted"]
    trigger, tokens, replaced = event[1]
    assert trigger == "auto" and tokens >= 700 and replaced == 2


async def test_mid_turn_compaction_in_stream_json(fake, workdir: Path) -> None:
    (workdir / "a.txt").write_text("alpha\n")
    fake.script(Reply(tool_use("Read", {"file_path": "a.txt"}), usage={"input_tokens": 900, "output_tokens": 5}),
                Reply("SUMMARY: reading a.txt."), Reply("a.txt says alpha."))
    settings = chat_settings(fake, sessions_path=str(workdir.parent / "sessions.db"),
                             context_window=1000, auto_compact=0.8)
    code, _, out = await oneshot(fake, workdir, "what is in a.txt?", "stream-json", settings=settings)
    assert code == 0
    messages = parse_stream(out)
    (boundary,) = [m.raw for m in messages if m.raw.get("subtype") == "compact_boundary"]
    assert boundary["compact_metadata"]["trigger"] == "auto" and boundary["compact_metadata"]["pre_tokens"] >= 900
    assert messages[-1].raw["result"] == "a.txt says alpha."
    assert "alpha" in _text(fake.requests[2]), "the Read result survives compaction"


async def test_a_failed_automatic_compaction_goes_on_with_the_full_history(fake, workdir: Path) -> None:
    from tests.support.scripted_anthropic import ErrorReply

    fake.script(Reply("first", usage={"input_tokens": 950, "output_tokens": 1}),
                ErrorReply(400, "invalid_request_error", "prompt is too long"), Reply("second"))
    settings = chat_settings(fake, sessions_path=str(workdir.parent / "sessions.db"),
                             context_window=1000, auto_compact=0.5)
    ui = Recorder()
    runtime = ChatRuntime(settings, ChatOptions(cwd=workdir), ui)
    await runtime.start()
    assert runtime.agent is not None
    await runtime.agent.run("one")
    result = await runtime.agent.run("two")
    await runtime.close()
    assert result.text == "second" and len(fake.requests[2]["messages"]) == 3
    assert any(kind == "notice" and "automatic compaction failed" in str(text) for kind, text in ui.events)
