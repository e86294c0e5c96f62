"""Fixtures for the chat tests: a scripted fake Anthropic server and ways to run chat against it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.chat import TEST_KEY
from tests.support.scripted_anthropic import ScriptedAnthropic


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs read no memory file or settings of the person running the tests."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))


@pytest.fixture
def fake() -> Iterator[ScriptedAnthropic]:
    with ScriptedAnthropic() as server:
        yield server


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    """Settings for CLI runs: no SDK retries, so error tests answer at once."""
    path = tmp_path / "settings.yaml"
    path.write_text("chat:\n  max_retries: 0\n")
    return path


@pytest.fixture
def chat_env(cli_env: dict[str, str], fake: ScriptedAnthropic, settings_file: Path) -> dict[str, str]:
    return {**cli_env, "ANTHROPIC_BASE_URL": fake.url, "ANTHROPIC_API_KEY": TEST_KEY,
            "CLAUDE_PROXY_CONFIG": str(settings_file)}


@pytest.fixture
def run_chat(cli: list[str], chat_env: dict[str, str], workdir: Path):
    """Run ``claude-proxy chat ARGS`` in ``workdir`` with optional stdin; returns the finished process."""

    def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*cli, "chat", *args], cwd=workdir, env=env or chat_env, text=True, capture_output=True,
            input=stdin if stdin is not None else "", timeout=60,
        )

    return run
