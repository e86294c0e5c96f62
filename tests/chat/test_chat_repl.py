"""The interactive REPL driven for real in a pseudo-terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.support.scripted_anthropic import Reply
from tests.support.terminal import Terminal


@pytest.fixture
def repl(cli: list[str], chat_env: dict[str, str], workdir: Path) -> Iterator:
    terminals: list[Terminal] = []

    env = {**chat_env, "PROMPT_TOOLKIT_NO_CPR": "1"}  # pexpect does not answer cursor-position queries

    def start(*args: str) -> Terminal:
        term = Terminal([*cli, "chat", *args], env, str(workdir))
        terminals.append(term)
        term.expect("Ctrl-D quits")
        return term

    yield start
    for term in terminals:
        term.close()


def test_prompt_streams_answer_and_slash_commands(fake, repl, workdir: Path, chat_env) -> None:
    fake.script(Reply("Hello **there**, friend.\n\n```python\nprint('hi')\n```\n\nThat is all."))
    term = repl()
    assert "****9876" in term.seen and "sk-ant-test-key-9876" not in term.seen, "the key is shown masked"
    term.send_line("say hello")
    term.expect("Hello there, friend.")
    term.expect("print('hi')")
    term.expect("That is all.")
    term.expect("cache read 0")  # the status line after the turn
    term.send_line("/cost")
    term.expect("total: $")
    term.send_line("/save transcript.md")
    term.expect("saved the transcript")
    term.send_line("/model claude-haiku-4-5")
    term.expect("model: claude-haiku-4-5")
    term.send_line("/tools")
    term.expect("Task")
    term.send_line("/permissions")
    term.expect("mode: default")
    term.send_line("/todos")
    term.expect("no todos")
    term.send_line("/nonsense")
    term.expect("unknown command /nonsense")
    term.send_line("/exit")
    assert term.wait_exit() == 0
    transcript = (workdir / "transcript.md").read_text()
    assert "## You\n\nsay hello" in transcript and "That is all." in transcript
    history = Path(chat_env["XDG_DATA_HOME"]) / "claude-proxy" / "chat_history"
    assert "say hello" in history.read_text(), "prompt history is kept across runs"


def test_ctrl_c_stops_the_turn_and_the_session_goes_on(fake, repl) -> None:
    fake.script(Reply("Once upon a time there was a very long story", hang_after=0), Reply("Fresh answer."))
    term = repl()
    term.send_line("tell me a story")
    term.expect("Once up")
    assert fake.hanging.wait(10)
    term.interrupt()
    term.expect("stopped")
    term.send_line("something else")
    term.expect("Fresh answer.")
    term.expect_prompt()
    sent = fake.requests[1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"][0]["text"].startswith("Once up")
    assert "interrupted" in sent[2]["content"][0]["text"]
    term.child.sendeof()
    assert term.wait_exit() == 0
