"""The interactive REPL driven for real in a pseudo-terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import yaml

from tests.support.chat import result_text, tool_results
from tests.support.scripted_anthropic import ErrorReply, Reply, tool_use
from tests.support.terminal import Terminal

pytestmark = pytest.mark.processes


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
    todo = {"content": "Greet the user", "activeForm": "Greeting the user", "status": "in_progress"}
    fake.script(Reply(tool_use("TodoWrite", {"todos": [todo]})),
                Reply("Hello **there**, friend.\n\n```python\nprint('hi')\n```\n\nThat is all."))
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
    term.expect_prompt()
    term.child.send("\x1b[Z")  # Shift-Tab cycles the permission mode (the toolbar needs a real terminal)
    term.send_line("/permissions")
    term.expect("mode: acceptEdits")
    term.send_line("/permissions plan")
    term.expect("mode: plan")
    term.send_line("/permissions yolo")
    term.expect("unknown permission mode 'yolo'")
    term.send_line("/todos")
    term.expect("Greeting the user")
    term.child.send("/mo")
    term.expect("show the model")  # the completion menu, while typing
    term.child.send("\t")  # Tab takes the completion
    term.send_line(" claude-opus-4-5")
    term.expect("model: claude-opus-4-5")
    term.send_line("/clear")
    term.expect("new conversation")
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
    term.expect_prompt()
    term.send_line("something\\")  # a trailing backslash continues on a new line
    term.send_line("else")
    term.expect("Fresh answer.")
    term.expect_prompt()
    sent = fake.requests[1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"][0]["text"].startswith("Once up")
    assert "interrupted" in sent[2]["content"][0]["text"] and sent[2]["content"][-1]["text"] == "something\nelse"
    term.child.sendeof()
    assert term.wait_exit() == 0

    again = repl("--continue")
    assert "resumed, 4 messages" in again.seen
    again.expect("last answer: Fresh answer.")
    fake.script(ErrorReply(429, "rate_limit_error", "Number of requests has exceeded your rate limit"))
    again.send_line("one more")
    again.expect("API error 429: rate limited: wait a moment and try again (Number of requests")
    again.expect_prompt()  # the session goes on
    again.send_line("/exit")
    assert again.wait_exit() == 0


def test_permission_prompt_no_then_always_with_save(fake, repl, workdir: Path, settings_file: Path) -> None:
    fake.script(Reply("I will create it.", tool_use("Bash", {"command": "touch refused.txt"})),
                Reply("Fine, I left it alone."),
                Reply(tool_use("Write", {"file_path": "interrupted.txt", "content": "draft line\n"})),
                Reply(tool_use("Bash", {"command": "touch granted.txt"})), Reply("Created."))
    term = repl("--save")
    term.send_line("make refused.txt")
    term.expect("Bash(touch refused.txt)")
    term.expect("a always:")
    term.child.send("n")  # one key, no Enter
    term.expect("Fine, I left it alone.")
    assert not (workdir / "refused.txt").exists()
    (denied,) = tool_results(fake.requests[1])
    assert denied["is_error"] and "user denied" in result_text(denied)

    term.expect_prompt()
    term.send_line("make interrupted.txt")
    term.expect("+draft line")  # what the write would change, before the question
    term.expect("a = always allow Edit(./interrupted.txt) for this session")
    term.expect("a always:")
    term.interrupt()  # Ctrl-C at the permission prompt stops the turn
    term.expect("stopped")
    assert not (workdir / "interrupted.txt").exists()

    term.expect_prompt()
    term.send_line("make granted.txt")
    term.expect("a = always allow Bash(touch:*) for this session")
    term.expect("a always:")
    term.child.send("a")
    term.expect("allowed for this session: Bash(touch:*)")
    term.expect("y/N:")
    term.child.send("y")
    term.expect("Created.")
    assert (workdir / "granted.txt").exists()
    sent = fake.requests[3]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user", "assistant", "user", "assistant", "user"]
    (stopped,) = [b for b in sent[6]["content"] if b["type"] == "tool_result"]
    assert stopped["is_error"] and "Interrupted" in result_text(stopped)
    saved = yaml.safe_load(settings_file.read_text())
    assert saved["permissions"]["allow"] == ["Bash(touch:*)"] and saved["chat"]["max_retries"] == 0
    term.expect_prompt()
    term.send_line("/permissions")
    term.expect("allowed this session: Bash(touch:*)")
    term.send_line("/exit")
    assert term.wait_exit() == 0


def test_completion_of_paths_and_commands(workdir: Path) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from claude_proxy.chat.repl import ChatCompleter

    (workdir / "notes.md").write_text("x")
    (workdir / "src").mkdir()
    (workdir / "src" / "main.py").write_text("")
    completer = ChatCompleter(workdir)

    def complete(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))]

    assert complete("look at @no") == ["tes.md"]
    assert complete("open ./sr") == ["c"] and complete("open src/ma") == ["in.py"]
    assert complete("/cl") == ["/clear"]
    assert complete("plain words") == []
