"""What the REPL's screen shows, read from a real terminal emulator (tmux): progress, Ctrl-C, prompts."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.support.scripted_anthropic import ErrorReply, Reply, tool_use
from tests.support.tmux import Tmux

pytestmark = pytest.mark.processes

Start = Callable[..., Tmux]


@pytest.fixture
def screen(cli: list[str], chat_env: dict[str, str], workdir: Path, tmp_path: Path) -> Iterator[Start]:
    """``screen(*args, settings=...)`` starts ``claude-proxy chat ARGS`` in tmux and waits for its banner."""
    sessions: list[Tmux] = []

    def start(*args: str, settings: str | None = None) -> Tmux:
        env = {**chat_env, "TERM": "xterm-256color"}
        env.pop("NO_COLOR", None)
        if settings is not None:
            path = tmp_path / f"settings-{len(sessions)}.yaml"
            path.write_text(settings)
            env["CLAUDE_PROXY_CONFIG"] = str(path)
        term = Tmux([*cli, "chat", *args], {k: v for k, v in env.items() if k in KEEP or k.startswith(
            ("ANTHROPIC_", "CLAUDE_PROXY_", "XDG_"))}, workdir, socket_dir=tmp_path)
        sessions.append(term)
        term.wait_for("Ctrl-D quits")
        return term

    yield start
    for term in sessions:
        term.close()


KEEP = {"PATH", "HOME", "PYTHONPATH", "TERM", "LANG", "LC_ALL", "VIRTUAL_ENV"}


def flat(screen: str) -> str:
    """The screen's words with every run of whitespace (line wraps included) as one space."""
    return " ".join(screen.split())


def prompt(term: Tmux, text: str) -> None:
    term.type(text)
    term.keys("Enter")


def test_ctrl_c_mid_stream_leaves_the_partial_answer_once(fake, screen) -> None:
    fake.script(Reply("The first paragraph of the answer arrives whole.", "Then a second one that never",
                      hang_after=1), Reply("Fresh answer."))
    term = screen()
    prompt(term, "tell me a story")
    term.wait_for("The first paragraph of the answer arrives whole.Then")
    time.sleep(0.3)
    term.keys("C-c")
    shown = term.wait_for("⏹ stopped")
    assert shown.count("The first paragraph of the answer arrives whole.") == 1, shown
    assert "^C" not in shown
    prompt(term, "go on")
    shown = term.wait_for("Fresh answer.")
    assert shown.count("The first paragraph of the answer arrives whole.") == 1, shown
    assert fake.requests[1]["messages"][1]["content"][0]["text"].startswith("The first paragraph")


def test_spinner_counts_the_seconds_until_the_first_token(fake, screen) -> None:
    fake.script(Reply("At last, the answer.", delay=2.5))
    term = screen()
    prompt(term, "take your time")
    first = term.wait_for("waiting for the model", history=False)
    seconds = re.search(r"waiting for the model · (\d+\.\d)s", first)
    assert seconds, first
    time.sleep(1.0)
    later = re.search(r"waiting for the model · (\d+\.\d)s", term.screen(history=False))
    assert later and float(later.group(1)) > float(seconds.group(1)), "the clock moves"
    done = term.wait_for("At last, the answer.")
    term.wait_for("cache read")
    assert "waiting for the model" not in term.screen(), "the spinner is gone once the answer streams"
    assert "Ctrl-C to stop" not in done.split("At last")[1]


def test_retry_shows_the_reason_and_the_delay(fake, screen) -> None:
    fake.script(ErrorReply(529, "overloaded_error", "Overloaded", headers={"retry-after": "3"}), Reply("Made it."))
    term = screen(settings="chat:\n  max_retries: 2\n")
    prompt(term, "hello")
    shown = term.wait_for("529 overloaded: retrying in", history=False)
    assert re.search(r"529 overloaded: retrying in [0-3]\.\ds", shown), shown
    term.wait_for("Made it.", timeout=15)
    term.wait_for("cache read")
    assert "retrying" not in term.screen()
    assert len(fake.requests) == 2


def test_a_running_tool_shows_its_elapsed_time(fake, screen) -> None:
    fake.script(Reply(tool_use("Bash", {"command": "sleep 2.5"})), Reply("Slept."))
    term = screen("--allowed-tools", "Bash(sleep:*)")
    prompt(term, "nap")
    running = term.wait_for("Bash(sleep 2.5) · ", history=False)
    assert re.search(r"Bash\(sleep 2\.5\) · \d\.\ds", running), running
    done = term.wait_for("Slept.")
    assert re.search(r"⎿ .*\(2\.\ds\)", done), done
    assert "Bash(sleep 2.5) · " not in term.screen(), "the timer line is gone once the tool finished"




def test_one_key_answers_and_always_adds_the_files_own_rule(fake, screen, workdir: Path) -> None:
    fake.script(Reply(tool_use("Write", {"file_path": "notes.md", "content": "first\n"})), Reply("Wrote it."),
                Reply(tool_use("Write", {"file_path": "notes.md", "content": "second\n"}),
                      tool_use("Write", {"file_path": "other.md", "content": "other\n"})), Reply("Both done."))
    term = screen()
    prompt(term, "write notes")
    shown = term.wait_for("a always:")
    assert "a = always allow Edit(./notes.md) for this session" in shown, "the rule is shown before it is added"
    term.type("a")  # no Enter
    term.wait_for("allowed for this session: Edit(./notes.md)")
    term.wait_for("Wrote it.")
    assert (workdir / "notes.md").read_text() == "first\n"

    prompt(term, "again, and another file")
    shown = term.wait_for("Edit(./other.md) for this session")
    assert (workdir / "notes.md").read_text() == "second\n", "the remembered rule covered the same file"
    term.type("x")  # a key that is not an answer does nothing
    time.sleep(0.3)
    assert not (workdir / "other.md").exists()
    term.type("y")
    term.wait_for("Both done.")
    assert (workdir / "other.md").read_text() == "other\n"
    prompt(term, "/permissions")
    shown = term.wait_for("allowed this session:")
    assert "allowed this session: Edit(./notes.md)" in shown and "Edit(./**)" not in shown


def test_memory_is_listed_and_a_hash_line_adds_to_the_project_file(fake, screen, workdir: Path) -> None:
    (workdir / "AGENTS.md").write_text("Answer in haiku.\n")
    fake.script(Reply("First."), Reply("Second."))
    term = screen()
    prompt(term, "/memory")
    shown = term.wait_for("adds a line")
    assert f"project  {workdir / 'AGENTS.md'}  1 lines" in shown
    prompt(term, "# Always run make lint before committing")
    shown = term.wait_for("Add it? y/N")
    assert f'memory: add "- Always run make lint before committing" to {workdir / "CLAUDE.md"}' in flat(shown)
    term.type("y")
    term.wait_for("added to")
    assert f"added to {workdir / 'CLAUDE.md'}" in flat(term.screen())
    assert (workdir / "CLAUDE.md").read_text() == "- Always run make lint before committing\n"
    prompt(term, "# not this one")
    term.wait_for("y/N", history=False)
    term.type("n")
    term.wait_for("not added")
    prompt(term, "hello")
    term.wait_for("First.")
    system = fake.requests[0]["system"][0]["text"]
    assert "Answer in haiku." in system and "- Always run make lint before committing" in system
    assert "not this one" not in system and "not this one" not in str(fake.requests[0]["messages"])


def test_compact_command_summarises_the_conversation(fake, screen) -> None:
    fake.script(Reply("First answer."), Reply("SUMMARY: we said hello."), Reply("After the summary."))
    term = screen()
    prompt(term, "hello")
    term.wait_for("First answer.")
    term.wait_for("cache read")
    prompt(term, "/compact keep names")
    shown = term.wait_for("compacted 2 messages into a summary")
    assert "compacting the conversation" in shown
    assert fake.requests[1]["messages"][-1]["content"][-1]["text"].endswith("keep names")
    prompt(term, "go on")
    term.wait_for("After the summary.")
    (message,) = fake.requests[2]["messages"]
    assert "SUMMARY: we said hello." in message["content"][0]["text"]

    fake.script(ErrorReply(400, "invalid_request_error", "prompt is too long"))
    term.wait_for("cache read")
    prompt(term, "/compact")
    term.wait_for("compaction failed, the history is unchanged")
    time.sleep(0.3)
    assert "waiting for the model" not in term.screen(history=False), "no spinner left behind"
