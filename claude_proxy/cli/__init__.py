"""The `claude-proxy` command line: thin Typer commands over the library.

Each command module imports only typer at module level; the heavy parts (aiohttp,
the SDK, rich tables) are imported inside the commands so `--help` starts fast.
"""

from __future__ import annotations

import sys

import typer

from claude_proxy import __version__
from claude_proxy.cli import chat, config, logs, logsview, mcp, serve, tools
from claude_proxy.cli.errors import CLIError

app = typer.Typer(
    name="claude-proxy",
    help="A local gateway and terminal agent for the Anthropic API.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion; shellingham is imported only for them
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every subcommand
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"claude-proxy {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """A local gateway and terminal agent for the Anthropic API."""


serve.register(app)
chat.register(app)
app.add_typer(config.app, name="config")
logsview.register(logs.app)
app.add_typer(logs.app, name="logs")
app.add_typer(tools.app, name="tools")
app.add_typer(mcp.app, name="mcp")


def main() -> None:
    """Console entry point: known errors become one line on stderr, never a traceback."""
    from claude_proxy.errors import SettingsError

    try:
        app()
    except (CLIError, SettingsError) as exc:
        code = exc.exit_code if isinstance(exc, CLIError) else 1
        sys.stderr.write(f"claude-proxy: error: {exc}\n")
        sys.exit(code)
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        sys.exit(130)
