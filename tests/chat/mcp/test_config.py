"""Which MCP servers a session uses: settings validation, the .mcp.json format, approvals by content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claude_proxy.errors import SettingsError
from claude_proxy.mcp.config import approve, load_project_file, server_specs
from claude_proxy.settings import parse_settings


def write(workdir: Path, servers: dict) -> Path:
    path = workdir / ".mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}))
    return path


def test_settings_name_the_bad_key() -> None:
    with pytest.raises(SettingsError, match="mcp.servers.web.*needs 'url'"):
        parse_settings({"mcp": {"servers": {"web": {"type": "http"}}}})
    with pytest.raises(SettingsError, match="mcp.servers.a__b"):
        parse_settings({"mcp": {"servers": {"a__b": {"command": "x"}}}})
    with pytest.raises(SettingsError, match="unknown key 'mcp.servers.x.cmd'"):
        parse_settings({"mcp": {"servers": {"x": {"cmd": "x"}}}})


def test_claude_code_format_with_env_expansion(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCS_TOKEN", "t0ken")
    write(workdir, {"files": {"command": "npx", "args": ["-y", "server"], "env": {"LEVEL": "${LEVEL:-debug}"}},
                    "docs": {"type": "http", "url": "http://127.0.0.1:9/mcp",
                             "headers": {"Authorization": "Bearer ${DOCS_TOKEN}"}}})
    project = load_project_file(workdir)
    assert project is not None and project.error is None and not project.approved
    files, docs = project.servers
    assert (files.config.command, files.config.args, files.config.env) == ("npx", ["-y", "server"], {"LEVEL": "debug"})
    assert docs.config.headers == {"Authorization": "Bearer t0ken"}


@pytest.mark.parametrize(("content", "problem"), [
    ("{not json", "not valid JSON"),
    ('{"mcpServers": {"x": {"type": "sse", "url": "http://h"}}}', "server 'x'"),
    ('{"mcpServers": {"bad__name": {"command": "x"}}}', "server name 'bad__name'"),
    ('{"mcpServers": []}', "expected an object"),
])
def test_a_broken_project_file_is_reported_not_used(workdir: Path, content: str, problem: str) -> None:
    (workdir / ".mcp.json").write_text(content)
    project = load_project_file(workdir)
    assert project is not None and problem in (project.error or "")
    assert server_specs(parse_settings({}), project) == []


def test_only_the_approved_content_is_used_and_settings_win_on_a_name(workdir: Path) -> None:
    settings = parse_settings({"mcp": {"servers": {"shared": {"command": "from-settings"}}}})
    write(workdir, {"shared": {"command": "from-file"}, "extra": {"command": "extra"}})
    project = load_project_file(workdir)
    assert [s.name for s in server_specs(settings, project)] == ["shared"]
    approve(project)
    again = load_project_file(workdir)
    specs = server_specs(settings, again)
    assert [(s.name, s.config.command) for s in specs] == [("shared", "from-settings"), ("extra", "extra")]
    write(workdir, {"extra": {"command": "something-else"}})
    assert not load_project_file(workdir).approved
    off = parse_settings({"mcp": {"project_file": False}})
    assert server_specs(off, again) == []
