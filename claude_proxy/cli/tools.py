"""`claude-proxy tools`: list, run and check the local tools."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="List, run and check the local tools.", no_args_is_help=True)


@app.command("check")
def check(
    command: str = typer.Argument(..., help="The shell command to judge, quoted as one argument."),
    cwd: Optional[Path] = typer.Option(None, "--cwd", help="Workspace directory (default: the current one)."),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="Settings file (default: the search order)."),
    json_out: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
) -> None:
    """Judge a shell command without running it: exit 0 when safe, 3 when it would ask or be denied."""
    import json
    from dataclasses import asdict

    from claude_proxy.cli.errors import CLIError
    from claude_proxy.settings import load_settings
    from claude_proxy.tools.base import ToolContext
    from claude_proxy.tools.guard import judge_command

    workspace = (cwd or Path.cwd()).expanduser()
    if not workspace.is_dir():
        raise CLIError(f"--cwd {workspace} is not a directory")
    context = ToolContext(cwd=workspace.resolve(), settings=load_settings(config))
    verdict = judge_command(command, context)
    if json_out:
        typer.echo(json.dumps(asdict(verdict), indent=2, ensure_ascii=False))
    else:
        for part in verdict.parts:
            shown = " ".join(part.command.split())
            shown = shown if len(shown) <= 60 else shown[:59] + "…"
            typer.echo(f"{part.behavior:<6} {shown:<40} {part.reason}")
        label = "safe" if verdict.behavior == "allow" else verdict.behavior
        typer.echo(f"overall: {label}: {verdict.reason}")
    raise typer.Exit(0 if verdict.behavior == "allow" else 3)
