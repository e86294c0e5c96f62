"""Fixtures for the guard tests: a real workspace (a git repo with files) and its context."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from claude_proxy.settings import parse_settings
from claude_proxy.tools.base import Tool, ToolContext

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once: a small project with files, a .env secret and a git repository with two commits."""
    ws = tmp_path_factory.mktemp("template") / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "docs").mkdir()
    (ws / "src" / "app.py").write_text("def main():\n    return 1  # TODO\n")
    (ws / "README.md").write_text("# demo\n")
    (ws / "a.txt").write_text("b\na\nb\n")
    (ws / "package.json").write_text('{"scripts": {"test": "echo ok"}}\n')
    (ws / ".env").write_text("API_KEY=sk-secret\n")
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "one"]):
        subprocess.run(["git", *args], cwd=ws, env=env, check=True)
    (ws / "README.md").write_text("# demo\nmore\n")
    subprocess.run(["git", "commit", "-qam", "two"], cwd=ws, env=env, check=True)
    return ws


@pytest.fixture
def workspace(_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the template project for one test."""
    ws = tmp_path / "ws"
    shutil.copytree(_template, ws, symlinks=True)
    return ws


@pytest.fixture
def context(workspace: Path) -> ToolContext:
    return ToolContext(cwd=workspace, settings=parse_settings({}))


@pytest.fixture
def outside() -> Path:
    """A directory outside the workspace and outside /tmp (which the sandbox makes private)."""
    base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else str(Path.home())
    path = Path(tempfile.mkdtemp(prefix="guard-outside-", dir=base))
    (path / "canary").write_text("intact\n")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def corpus_context(_template: Path, tmp_path_factory: pytest.TempPathFactory) -> ToolContext:
    """The workspace the command corpora are judged in (see tests/tools/guard/corpus.py).

    Shared by every corpus case: judging a command never changes the workspace.
    """
    from tests.tools.guard.corpus import furnish

    ws = tmp_path_factory.mktemp("corpus") / "ws"
    shutil.copytree(_template, ws, symlinks=True)
    return make_context(furnish(ws))


def make_context(workspace: Path, **settings: object) -> ToolContext:
    return ToolContext(cwd=workspace, settings=parse_settings(settings))


def tool(name: str, read_only: bool = False) -> Tool:
    """The registered tool of that name, or a stand-in with the same name and flag."""
    from claude_proxy.tools.registry import get_tool

    found = get_tool(name)
    if found is not None:
        return found
    cls = type(name, (Tool,), {"name": name, "description": "stand-in", "input_schema": {"type": "object"},
                               "read_only": read_only, "key_argument": None})
    return cls()
