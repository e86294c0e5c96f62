"""`claude-proxy logs`: read the request log."""

from __future__ import annotations

import typer

app = typer.Typer(help="Read the request log.", no_args_is_help=True)
