"""Shared test fixtures: the wire fixtures folder and a way to run the real CLI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """``tests/fixtures``: recorded Anthropic and OpenAI wire bytes, kept in the repository."""
    return FIXTURES


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """An environment for CLI subprocesses: this checkout importable, no user settings leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_PROXY_"))}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["HOME"] = str(tmp_path / "home")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "home" / ".config")
    env["XDG_DATA_HOME"] = str(tmp_path / "home" / ".local" / "share")
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env


@pytest.fixture
def cli(cli_env: dict[str, str]) -> list[str]:
    """The command that runs this checkout's ``claude-proxy``."""
    return [sys.executable, "-m", "claude_proxy"]
