"""`claude-proxy chat`: the terminal agent, and scripted one-shot prompts with `-p`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from claude_proxy.cli.errors import CLIError

if TYPE_CHECKING:
    from claude_proxy.settings import Settings

USAGE = 2
PERMISSION_MODES = ("default", "acceptEdits", "plan", "bypassPermissions")
OUTPUT_FORMATS = ("text", "json", "stream-json")


def split_rules(values: list[str]) -> list[str]:
    """``--allowed-tools "Bash(git diff:*) Edit,Read"`` -> rules; spaces and commas inside (...) are kept."""
    rules: list[str] = []
    for value in values:
        depth, current = 0, ""
        for char in value:
            if char in " \t\n," and depth == 0:
                if current:
                    rules.append(current)
                current = ""
                continue
            depth += {"(": 1, ")": -1}.get(char, 0)
            current += char
        if current:
            rules.append(current)
    return rules


def register(app: typer.Typer) -> None:
    @app.command()
    def chat(
        prompt: Optional[str] = typer.Argument(None, help="The prompt; with -p, read from stdin when omitted."),
        print_: bool = typer.Option(False, "-p", "--print", help="Answer one prompt without the UI, then exit."),
        output_format: str = typer.Option("text", "--output-format", help="With -p: text | json | stream-json."),
        partial: bool = typer.Option(False, "--include-partial-messages",
                                     help="With stream-json: also each raw API stream event."),
        verbose: bool = typer.Option(False, "--verbose", help="Accepted for scripts written for claude -p."),
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Model (default: chat.model)."),
        max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1, help="max_tokens per request."),
        thinking: Optional[int] = typer.Option(None, "--thinking", min=0, help="Extended thinking budget (tokens)."),
        system: Optional[str] = typer.Option(None, "--system", help="Replace the default system prompt."),
        append_system_prompt: Optional[str] = typer.Option(
            None, "--append-system-prompt", help="Text added after the system prompt."),
        permission_mode: Optional[str] = typer.Option(
            None, "--permission-mode", help="default | acceptEdits | plan | bypassPermissions."),
        allowed_tools: List[str] = typer.Option(
            [], "--allowed-tools", help='Rules to allow, e.g. "Bash(git diff:*) Edit" (repeatable).'),
        max_turns: Optional[int] = typer.Option(None, "--max-turns", min=1, help="Model requests per prompt."),
        continue_: bool = typer.Option(False, "--continue", "-c", help="Continue the latest session here."),
        resume: Optional[str] = typer.Option(None, "--resume", "-r", help="Resume the session with this id."),
        list_: bool = typer.Option(False, "--list", help="List saved sessions and exit."),
        json_out: bool = typer.Option(False, "--json", help="With --list: print JSON."),
        config: Optional[Path] = typer.Option(None, "--config", help="Settings file."),
        cwd: Optional[Path] = typer.Option(None, "--cwd", help="Working directory for the tools."),
        save: bool = typer.Option(False, "--save", help='Offer to save "always" rules to the settings file.'),
    ) -> None:
        """Talk to Claude in the terminal; its tool calls run here, through the guard."""
        import asyncio

        from claude_proxy.settings import load_settings

        settings = load_settings(config)
        if list_:
            from claude_proxy.chat.sessions import SessionStoreError

            try:
                _list_sessions(settings, json_out)
            except SessionStoreError as exc:
                raise CLIError(str(exc)) from None
            return
        if json_out:
            raise CLIError("--json goes with --list (for -p use --output-format json)", USAGE)
        if output_format not in OUTPUT_FORMATS:
            raise CLIError(f"--output-format must be one of {', '.join(OUTPUT_FORMATS)}", USAGE)
        if output_format != "text" and not print_:
            raise CLIError("--output-format needs -p/--print", USAGE)
        if partial and output_format != "stream-json":
            raise CLIError("--include-partial-messages needs --output-format stream-json", USAGE)
        if permission_mode is not None and permission_mode not in PERMISSION_MODES:
            raise CLIError(f"--permission-mode must be one of {', '.join(PERMISSION_MODES)}", USAGE)
        if thinking and thinking < 1024:
            raise CLIError("--thinking must be 0 (off) or at least 1024 tokens", USAGE)
        if continue_ and resume:
            raise CLIError("use either --continue or --resume, not both", USAGE)
        if cwd is not None and not cwd.is_dir():
            raise CLIError(f"--cwd: not a directory: {cwd}", USAGE)

        rules = split_rules(allowed_tools)
        _check_rules(rules)

        from claude_proxy.chat.client import MissingCredentials
        from claude_proxy.chat.runtime import ChatOptions
        from claude_proxy.chat.sessions import SessionNotFound, SessionStoreError

        options = ChatOptions(
            model=model, max_tokens=max_tokens, thinking=thinking, system=system,
            append_system_prompt=append_system_prompt, permission_mode=permission_mode,
            allowed_tools=rules, max_turns=max_turns, continue_latest=continue_,
            resume=resume, cwd=cwd, save_rules=save,
        )
        try:
            if print_:
                from claude_proxy.chat.interrupt import run_main
                from claude_proxy.chat.oneshot import read_prompt, run_oneshot

                text = read_prompt(prompt, sys.stdin)
                if not text or not text.strip():
                    raise CLIError("-p needs a prompt: as an argument or on stdin", USAGE)
                code, error = run_main(run_oneshot(settings, options, text, output_format,
                                                      partial_messages=partial))
                if code:
                    raise CLIError(error or "failed", code)
                return
            if not sys.stdin.isatty():
                raise CLIError("stdin is not a terminal: use -p for scripted prompts", USAGE)
            from claude_proxy.chat.repl import run_repl

            asyncio.run(run_repl(settings, options, prompt))
        except SessionNotFound as exc:
            raise CLIError(str(exc), USAGE) from None
        except MissingCredentials as exc:
            raise CLIError(str(exc), 1) from None
        except SessionStoreError as exc:
            raise CLIError(str(exc), 1) from None


def _check_rules(rules: list[str]) -> None:
    """A malformed --allowed-tools rule is a usage error, named."""
    from claude_proxy.permission_rules import RuleError, parse_rule

    for rule in rules:
        try:
            parse_rule(rule)
        except RuleError as exc:
            raise CLIError(f"--allowed-tools: {exc}", USAGE) from None


def _list_sessions(settings: "Settings", json_out: bool = False) -> None:
    import dataclasses
    import datetime as dt
    import json

    from claude_proxy.chat.sessions import SessionStore

    sessions = SessionStore(settings.chat.sessions_db()).list_sync()
    if json_out:
        typer.echo(json.dumps([dataclasses.asdict(info) for info in sessions], indent=2))
        return
    if not sessions:
        typer.echo("no saved sessions")
        return
    for info in sessions:
        when = dt.datetime.fromtimestamp(info.updated).strftime("%Y-%m-%d %H:%M")
        typer.echo(f"{info.id}  {when}  {info.messages:>4} msgs  {info.model}  {info.cwd}  {info.title}")
