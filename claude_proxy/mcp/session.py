"""The MCP side of one chat session: which servers run, the project file's approval, start and stop.

`SessionMcp.start()` runs the settings' servers and, once approved, those of the
project's ``.mcp.json``; an unapproved file is announced (it starts programs) and left
alone until `approve_project()`. The SDK is imported only when there is a server to
run, so a session without MCP pays nothing for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from claude_proxy.mcp.config import ProjectFile, approve, load_project_file, server_specs
from claude_proxy.settings import Settings
from claude_proxy.tools.base import Tool

if TYPE_CHECKING:
    from claude_proxy.mcp.client import McpServer, McpTools


class SessionMcp:
    """The running MCP servers of one session, and the project file's state."""

    def __init__(self, settings: Settings, cwd: Path, notice: Callable[[str], None],
                 log_dir: Path | None = None) -> None:
        self.settings = settings
        self.cwd = cwd
        self.notice = notice
        self.log_dir = log_dir
        self.project: ProjectFile | None = None
        self.running: McpTools | None = None

    @property
    def servers(self) -> list["McpServer"]:
        return self.running.servers if self.running is not None else []

    async def start(self) -> list[Tool]:
        """Start the servers this session may use; their tools, for the model."""
        self.project = load_project_file(self.cwd) if self.settings.mcp.project_file else None
        project = self.project
        if project is not None and project.error:
            self.notice(f"not using {project.path}: {project.error}")
        elif project is not None and not project.approved and project.servers:
            names = ", ".join(spec.name for spec in project.servers)
            self.notice(f"{project.path} defines MCP servers ({names}) that start programs; they are not used "
                        "until you approve this file: /mcp approve in chat, or claude-proxy mcp approve")
        specs = server_specs(self.settings, project)
        if not specs:
            return []
        from claude_proxy.mcp.client import McpTools

        self.running = McpTools(specs, self.settings, self.cwd, self.log_dir)
        await self.running.start()
        for server in self.running.servers:
            if server.status != "connected":
                self.notice(f"MCP server {server.name} is {server.status}: {server.error or 'no answer yet'}")
        return self.running.tools()

    async def approve_project(self) -> list[Tool]:
        """Approve the project file as it is now and restart the servers with it; the new tool list."""
        project = load_project_file(self.cwd)
        if project is None:
            raise FileNotFoundError(f"there is no .mcp.json in {self.cwd}")
        if project.error:
            raise ValueError(project.error)
        approve(project)
        await self.stop()
        return await self.start()

    def report(self) -> list[str]:
        """What `/mcp` shows: each server's status, restarts and tools, and the project file's state."""
        lines = []
        for server in self.servers:
            origin = "settings" if server.spec.origin == "settings" else Path(server.spec.origin).name
            restarts = f", {server.restarts} restart{'s' * (server.restarts != 1)}" if server.restarts else ""
            error = f": {server.error}" if server.error and server.status != "connected" else ""
            lines.append(f"{server.name} ({origin}, {server.spec.config.type}): {server.status}{restarts}{error}")
            names = ", ".join(tool.name for tool in server.listing.tools) or "(none)"
            lines.append(f"  tools: {names}")
        project = self.project
        if project is not None and project.error:
            lines.append(f"{project.path}: {project.error}")
        elif project is not None and not project.approved and project.servers:
            lines.append(f"{project.path} is not approved (it starts programs): /mcp approve uses it")
        return lines or ["no MCP servers (add them under mcp.servers in the settings, or in ./.mcp.json)"]

    async def stop(self) -> None:
        if self.running is not None:
            await self.running.stop()
            self.running = None
