"""`claude-proxy tools`: list, run and check the local tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from claude_proxy.cli.errors import CLIError

app = typer.Typer(help="List, run and check the local tools.", no_args_is_help=True)

EXIT_TOOL_FAILED = 1
EXIT_USAGE = 2
EXIT_GUARD = 3
MODES = ("default", "acceptEdits", "plan", "bypassPermissions")


@app.command("list")
def list_tools(
    json_out: bool = typer.Option(False, "--json", help="Print the tool definitions sent to the model."),
) -> None:
    """List the tools: names and one line each."""
    import json

    from claude_proxy.tools.registry import all_tools, definitions

    if json_out:
        typer.echo(json.dumps(definitions(), indent=2))
        return
    tools = all_tools()
    width = max(len(t.name) for t in tools)
    for tool in tools:
        first = tool.description.strip().splitlines()[0]
        first = first.split(". ")[0].rstrip(".") + "."
        flag = "read-only" if tool.read_only else "changes  "
        typer.echo(f"{tool.name:<{width}}  {flag}  {first}")


def _render(content: str | list[dict[str, Any]]) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if block.get("type") == "text":
            parts.append(block.get("text", ""))
        elif block.get("type") == "image":
            source = block.get("source", {})
            parts.append(f"[image: {source.get('media_type')}, {len(source.get('data', ''))} base64 characters]")
    return "\n".join(parts)


@app.command("run")
def run(
    name: str = typer.Argument(..., help="Tool name, e.g. Read, Grep, Bash."),
    tool_input: str = typer.Argument("{}", metavar="JSON", help="The tool input as a JSON object."),
    cwd: Optional[str] = typer.Option(None, "--cwd", help="Workspace directory (default: the current one)."),
    permission_mode: Optional[str] = typer.Option(
        None, "--permission-mode", help="default | acceptEdits | plan | bypassPermissions (default: from settings)."
    ),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="Settings file."),
    json_out: bool = typer.Option(False, "--json", help="Print the tool_result block as JSON."),
) -> None:
    """Run one tool through the guard and print its result (exit 1: tool failed, 3: guard refused)."""
    import asyncio
    import json
    import os
    import sys

    from claude_proxy.settings import load_settings
    from claude_proxy.tools.guard import SandboxAwareGuard
    from claude_proxy.tools.registry import get_tool, new_context, run_tool
    from claude_proxy.tools.validation import validation_error

    if permission_mode is not None and permission_mode not in MODES:
        raise CLIError(f"unknown permission mode {permission_mode!r}; use one of {', '.join(MODES)}", EXIT_USAGE)
    try:
        parsed = json.loads(tool_input)
    except json.JSONDecodeError as exc:
        raise CLIError(f"the tool input is not valid JSON: {exc}", EXIT_USAGE) from None
    if not isinstance(parsed, dict):
        raise CLIError("the tool input must be a JSON object", EXIT_USAGE)
    tool = get_tool(name)
    if tool is None:
        raise CLIError(f"unknown tool: {name} (see `claude-proxy tools list`)", EXIT_USAGE)
    workspace = os.path.abspath(cwd or os.getcwd())
    if not os.path.isdir(workspace):
        raise CLIError(f"--cwd {workspace} is not a directory", EXIT_USAGE)
    settings = load_settings(config)
    context = new_context(workspace, settings)
    problem = validation_error(tool, parsed)
    if problem:
        raise CLIError(problem, EXIT_TOOL_FAILED)
    mode = permission_mode or settings.permissions.default_mode
    decision = SandboxAwareGuard(settings, mode).decide(tool, parsed, context)
    if decision.behavior != "allow":
        why = f": {decision.reason}" if decision.reason else ""
        hint = ""
        if decision.behavior == "ask":
            hint = " (nobody to ask here; allow it with a permissions rule or --permission-mode)"
        verdict = "denied" if decision.behavior == "deny" else "needs permission"
        raise CLIError(f"{tool.name} {verdict}{why}{hint}", EXIT_GUARD)
    result = asyncio.run(run_tool(tool.name, parsed, context))
    if json_out:
        typer.echo(json.dumps({"content": result.content, "is_error": result.is_error}, indent=2))
    elif result.is_error:
        sys.stderr.write(_render(result.content).rstrip("\n") + "\n")
    else:
        typer.echo(_render(result.content))
    if result.is_error:
        raise typer.Exit(EXIT_TOOL_FAILED)


@app.command("check")
def check(
    command: str = typer.Argument(..., help="The shell command to judge, quoted as one argument."),
    cwd: Optional[Path] = typer.Option(None, "--cwd", help="Workspace directory (default: the current one)."),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="Settings file (default: the search order)."),
    json_out: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
) -> None:
    """Judge a shell command without running it: exit 0 when safe, 3 when it would ask or be denied."""
    import json

    from claude_proxy.settings import load_settings
    from claude_proxy.tools.base import ToolContext
    from claude_proxy.tools.guard import judge_command

    workspace = (cwd or Path.cwd()).expanduser()
    if not workspace.is_dir():
        raise CLIError(f"--cwd {workspace} is not a directory", EXIT_USAGE)
    context = ToolContext(cwd=workspace.resolve(), settings=load_settings(config))
    verdict = judge_command(command, context)
    if json_out:
        parts = [{"command": p.command, "behavior": p.behavior, "reason": p.reason, "kind": p.kind}
                 for p in verdict.parts]
        typer.echo(json.dumps({"behavior": verdict.behavior, "reason": verdict.reason, "parts": parts}, indent=2,
                              ensure_ascii=False))
    else:
        for part in verdict.parts:
            shown = " ".join(part.command.split())
            shown = shown if len(shown) <= 60 else shown[:59] + "…"
            typer.echo(f"{part.behavior:<6} {shown:<40} {part.reason}")
        label = "safe" if verdict.behavior == "allow" else verdict.behavior
        typer.echo(f"overall: {label}: {verdict.reason}")
    raise typer.Exit(0 if verdict.behavior == "allow" else EXIT_GUARD)
