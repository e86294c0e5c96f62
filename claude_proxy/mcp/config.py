"""Which MCP servers a session uses: the settings' ``mcp.servers`` and an approved project ``.mcp.json``.

A project file starts programs, so it is used only after the user approved that exact
file: approvals are kept per absolute path with the SHA-256 of the content, in
``~/.config/claude-proxy/mcp-approvals.json``; editing the file withdraws its approval.
Server names follow the settings' rule (no ``__``, which separates server and tool in
``mcp__server__tool``); the settings win over a project server of the same name.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from claude_proxy.errors import SettingsError
from claude_proxy.settings import MCP_SERVER_NAME, McpServerSettings, Settings, expand_env, user_config_path

log = logging.getLogger(__name__)

PROJECT_FILE = ".mcp.json"
APPROVALS_FILE = "mcp-approvals.json"


@dataclass
class ServerSpec:
    """One server to run, and where its definition came from (``settings`` or a file path)."""

    name: str
    config: McpServerSettings
    origin: str


@dataclass
class ProjectFile:
    """A project ``.mcp.json``: its servers, whether this exact content is approved, or why it is unusable."""

    path: Path
    digest: str
    approved: bool
    servers: list[ServerSpec] = field(default_factory=list)
    error: str | None = None


def approvals_path() -> Path:
    """Where approvals of project files are remembered (next to the user's settings file)."""
    return user_config_path().parent / APPROVALS_FILE


def _approvals() -> dict[str, str]:
    path = approvals_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def approve(project: ProjectFile) -> None:
    """Remember that the user approved this file with this content (written atomically)."""
    approvals = _approvals()
    approvals[str(project.path)] = project.digest
    path = approvals_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + f".{os.getpid()}.tmp")
    temp.write_text(json.dumps(approvals, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temp, path)
    project.approved = True


def parse_servers(data: Any, origin: str) -> list[ServerSpec]:
    """The servers of a Claude Code style ``{"mcpServers": {...}}`` mapping; `SettingsError` names the problem."""
    if not isinstance(data, dict) or not isinstance(data.get("mcpServers", {}), dict):
        raise SettingsError(f"{origin}: expected an object with 'mcpServers' mapping names to servers")
    specs = []
    for name, raw in data.get("mcpServers", {}).items():
        if not re.match(MCP_SERVER_NAME, name):
            raise SettingsError(f"{origin}: server name {name!r} may hold letters, digits, '-' and single '_'")
        try:
            config = McpServerSettings.model_validate(expand_env(raw))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or name}: {e['msg']}" for e in exc.errors())
            raise SettingsError(f"{origin}: server {name!r}: {problems}") from None
        specs.append(ServerSpec(name, config, origin))
    return specs


def load_project_file(cwd: Path) -> ProjectFile | None:
    """``cwd/.mcp.json`` with its approval state, or None when there is none."""
    import hashlib  # here: chat -p start-up pays for it only when there is a file to hash

    path = (cwd / PROJECT_FILE).resolve()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return ProjectFile(path, "", False, error=f"cannot read {path}: {exc.strerror}")
    digest = hashlib.sha256(raw).hexdigest()
    project = ProjectFile(path, digest, _approvals().get(str(path)) == digest)
    try:
        project.servers = parse_servers(json.loads(raw.decode("utf-8")), str(path))
    except (ValueError, SettingsError) as exc:
        project.error = str(exc) if isinstance(exc, SettingsError) else f"{path}: not valid JSON: {exc}"
    return project


def server_specs(settings: Settings, project: ProjectFile | None) -> list[ServerSpec]:
    """The servers to run: the settings', then an approved project file's (settings win on a name)."""
    specs = [ServerSpec(name, config, "settings") for name, config in settings.mcp.servers.items()]
    if project is not None and project.approved and project.error is None and settings.mcp.project_file:
        taken = {spec.name for spec in specs}
        specs += [spec for spec in project.servers if spec.name not in taken]
    return specs
