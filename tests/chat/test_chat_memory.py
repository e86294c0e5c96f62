"""Project memory: which files are read, in which order, and that the model gets them."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_proxy.chat.memory import MAX_FILE_CHARS, add_to_project_memory, load_memory
from tests.support.chat import chat_settings, oneshot
from tests.support.scripted_anthropic import Reply


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    home = tmp_path / "home"
    repo = tmp_path / "repo"
    sub = repo / "packages" / "app"
    sub.mkdir(parents=True)
    (home / ".claude").mkdir(parents=True)
    (home / ".config" / "claude-proxy").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    (home / ".claude" / "CLAUDE.md").write_text("Call me Ada.\n")
    (home / ".config" / "claude-proxy" / "CLAUDE.md").write_text("Prefer short answers.\n")
    (repo / "CLAUDE.md").write_text("Run tests with make test.\n")
    (repo / "AGENTS.md").write_text("Use tabs.\n")
    (sub / "CLAUDE.md").write_text("This package is the web app.\n")
    (sub / "CLAUDE.local.md").write_text("My sandbox URL is http://127.0.0.1:3000.\n")
    (repo / "packages" / "CLAUDE.md").write_text("   \n")  # blank: skipped
    return {"home": home, "repo": repo, "sub": sub}


def test_files_load_user_first_then_root_down_to_the_working_directory(tree: dict[str, Path]) -> None:
    files = load_memory(tree["sub"], home=tree["home"])
    assert [(f.scope, f.path.relative_to(f.path.parents[1]).as_posix()) for f in files] == [
        ("user", ".claude/CLAUDE.md"), ("user", "claude-proxy/CLAUDE.md"),
        ("project", "repo/CLAUDE.md"), ("project", "repo/AGENTS.md"),
        ("project", "app/CLAUDE.md"), ("local", "app/CLAUDE.local.md"),
    ]
    assert files[0].text == "Call me Ada.\n"


def test_a_huge_file_is_cut(tree: dict[str, Path]) -> None:
    (tree["sub"] / "AGENTS.md").write_text("x" * (MAX_FILE_CHARS + 10))
    (huge,) = [f for f in load_memory(tree["sub"], home=tree["home"]) if f.path.name == "AGENTS.md"
               and f.path.parent == tree["sub"]]
    assert huge.truncated and len(huge.text) == MAX_FILE_CHARS


def test_adding_a_line_appends_to_the_project_file(tree: dict[str, Path]) -> None:
    (tree["sub"] / "CLAUDE.md").write_text("no newline at the end")
    add_to_project_memory(tree["sub"], "  Use ruff, not flake8  ")
    assert (tree["sub"] / "CLAUDE.md").read_text() == "no newline at the end\n- Use ruff, not flake8\n"
    add_to_project_memory(tree["repo"] / "packages", "New file")
    assert (tree["repo"] / "packages" / "CLAUDE.md").read_text() == "   \n- New file\n"


async def test_the_model_gets_the_memory_in_the_system_prompt(fake, tree: dict[str, Path]) -> None:
    fake.script(Reply("ok"), Reply("ok"))
    settings = chat_settings(fake, sessions_path=str(tree["repo"] / "sessions.db"))
    await oneshot(fake, tree["sub"], "hi", settings=settings, append_system_prompt="Appended last.")
    system = fake.requests[0]["system"][0]["text"]
    order = ["Call me Ada.", "Prefer short answers.", "Run tests with make test.", "Use tabs.",
             "This package is the web app.", "My sandbox URL"]
    positions = [system.index(text) for text in order]
    assert positions == sorted(positions) and system.index("# Memory") < positions[0]
    assert f"Contents of {tree['sub'] / 'CLAUDE.local.md'}" in system and system.endswith("Appended last.")

    off = chat_settings(fake, sessions_path=str(tree["repo"] / "sessions.db"), memory=False)
    await oneshot(fake, tree["sub"], "hi", settings=off)
    assert "Call me Ada." not in fake.requests[1]["system"][0]["text"]
