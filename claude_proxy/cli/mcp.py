"""`claude-proxy mcp`: serve our tools to MCP clients over stdio; list and approve MCP servers."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from claude_proxy.cli.errors import CLIError

app = typer.Typer(help="Serve the local tools over MCP (stdio); list and approve the MCP servers chat uses.")

EXIT_USAGE = 2
MODES = ("default", "acceptEdits", "plan", "bypassPermissions")


def _workspace(cwd: Optional[Path]) -> Path:
    workspace = (cwd or Path.cwd()).expanduser()
    if not workspace.is_dir():
        raise CLIError(f"--cwd {workspace} is not a directory", EXIT_USAGE)
    return workspace.resolve()


@app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    cwd: Optional[Path] = typer.Option(None, "--cwd", help="Workspace directory (default: the current one)."),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="Settings file (default: the search order)."),
    permission_mode: Optional[str] = typer.Option(
        None, "--permission-mode", help="default | acceptEdits | plan | bypassPermissions (default: from settings)."),
    allowed_tools: Optional[str] = typer.Option(
        None, "--allowed-tools", help='Extra allow rules, space separated, e.g. "Bash(npm test:*) Edit".'),
) -> None:
    """Serve Read, Grep, Glob, LS, Edit, Write, Bash, ... over stdio, behind the guard and sandbox of chat."""
    if ctx.invoked_subcommand is not None:
        return
    import asyncio
    import logging
    import sys

    from claude_proxy.permission_rules import RuleError, parse_rule
    from claude_proxy.settings import load_settings

    if permission_mode is not None and permission_mode not in MODES:
        raise CLIError(f"unknown permission mode {permission_mode!r}; use one of {', '.join(MODES)}", EXIT_USAGE)
    workspace = _workspace(cwd)
    settings = load_settings(config)
    extra = (allowed_tools or "").split()
    try:
        for rule in extra:
            parse_rule(rule)
    except RuleError as exc:
        raise CLIError(f"--allowed-tools: {exc}", EXIT_USAGE) from None
    if extra:
        settings.permissions.allow = [*settings.permissions.allow, *extra]
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="claude-proxy mcp: %(message)s")
    from claude_proxy.mcp.server import serve_stdio

    asyncio.run(serve_stdio(settings, workspace, permission_mode))


@app.command("list")
def list_servers(
    cwd: Optional[Path] = typer.Option(None, "--cwd", help="Project directory (default: the current one)."),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="Settings file (default: the search order)."),
    json_out: bool = typer.Option(False, "--json", help="Print the servers as JSON."),
) -> None:
    """The MCP servers chat would start here: from the settings and the project's .mcp.json (secrets masked)."""
    import json

    from claude_proxy.mcp.config import load_project_file
    from claude_proxy.settings import load_settings, masked

    settings = load_settings(config)
    project = load_project_file(_workspace(cwd)) if settings.mcp.project_file else None
    rows = [{"name": name, "origin": "settings", "used": True, **masked(server.model_dump(exclude_defaults=True))}
            for name, server in settings.mcp.servers.items()]
    if project is not None:
        for spec in project.servers:
            used = project.approved and spec.name not in settings.mcp.servers
            rows.append({"name": spec.name, "origin": str(project.path), "used": used,
                         **masked(spec.config.model_dump(exclude_defaults=True))})
    if json_out:
        typer.echo(json.dumps({"servers": rows, "project_file": None if project is None else {
            "path": str(project.path), "approved": project.approved, "error": project.error}}, indent=2))
        return
    for row in rows:
        target = row.get("url") or " ".join([str(row.get("command", "")), *row.get("args", [])])
        state = "" if row["used"] else "  (not used: the file is not approved)"
        typer.echo(f"{row['name']:<16} {row.get('type', 'stdio'):<5} {target}{state}")
    if project is not None and project.error:
        typer.echo(f"{project.path}: {project.error}", err=True)
    elif project is not None and not project.approved:
        typer.echo(f"{project.path} is not approved: claude-proxy mcp approve")
    if not rows:
        typer.echo("no MCP servers")


@app.command("approve")
def approve_project(
    cwd: Optional[Path] = typer.Option(None, "--cwd", help="Project directory (default: the current one)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Approve without asking."),
) -> None:
    """Approve the project's .mcp.json as it is now (its servers start programs); an edit needs a new approval."""
    import sys

    from claude_proxy.mcp.config import approvals_path, approve, load_project_file

    project = load_project_file(_workspace(cwd))
    if project is None:
        raise CLIError(f"there is no .mcp.json in {_workspace(cwd)}")
    if project.error:
        raise CLIError(project.error)
    for spec in project.servers:
        target = spec.config.url or " ".join([str(spec.config.command), *spec.config.args])
        typer.echo(f"  {spec.name}: {target}")
    if not yes:
        if not sys.stdin.isatty():
            raise CLIError("approving starts these programs in chat; confirm with --yes when not at a terminal",
                           EXIT_USAGE)
        if not typer.confirm(f"Allow chat to start the servers of {project.path}?", default=False):
            raise typer.Exit(1)
    approve(project)
    typer.echo(f"approved {project.path} (sha256 {project.digest[:12]}; kept in {approvals_path()})")
