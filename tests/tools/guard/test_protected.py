"""The one list of files that decide what runs later, as the command validator will use it."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_proxy.tools.guard.protected import protected_reason, runs_code_reason, settings_reason

ROOT = Path("/work/project")


@pytest.mark.parametrize("relative", [
    ".git/hooks/pre-commit", ".git/config", ".gitmodules", ".vscode/tasks.json", ".vscode/settings.json",
    ".idea/runConfigurations/App.xml", ".mcp.json", ".bashrc", ".zshrc", ".profile", ".envrc",
    "vendor/lib/.git/hooks/post-checkout", ".claude/settings.local.json",
])
def test_files_that_run_code_later_are_named(relative):
    assert runs_code_reason(ROOT / relative)
    assert protected_reason(ROOT / relative, ROOT)


@pytest.mark.parametrize("relative", ["src/app.py", "README.md", ".vscode/extensions.json", ".git/HEAD",
                                      "hooks/pre-commit", "config"])
def test_ordinary_files_are_not(relative):
    assert protected_reason(ROOT / relative, ROOT) is None


def test_settings_files_are_named(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("CLAUDE_PROXY_CONFIG", str(tmp_path / "team.yaml"))
    for path in (ROOT / "claude-proxy.yaml", tmp_path / "claude-proxy" / "settings.yaml",
                 tmp_path / "claude-proxy" / "trusted.json", tmp_path / "team.yaml"):
        assert settings_reason(path) and protected_reason(path, ROOT)
