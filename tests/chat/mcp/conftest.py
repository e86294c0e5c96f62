"""Fixtures for the MCP tests: the demo server as a program, settings that run it, a workspace."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from claude_proxy.settings import Settings, parse_settings

DEMO_SERVER = Path(__file__).resolve().parents[2] / "support" / "mcp_demo_server.py"


def demo_settings(extra: dict[str, Any] | None = None, **mcp: Any) -> Settings:
    """Settings with the demo server as ``demo`` (stdio), quick restarts, and anything else given."""
    section = {"servers": {"demo": {"command": sys.executable, "args": [str(DEMO_SERVER)]}},
               "restart_backoff": 0.2, "startup_timeout": 30, **mcp}
    return parse_settings({"mcp": section, **(extra or {})})


@pytest.fixture(autouse=True)
def user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Approvals and server logs go to a private home, never the real one."""
    home = tmp_path / "home"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    return home
