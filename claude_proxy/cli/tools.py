"""`claude-proxy tools`: list, run and check the local tools."""

from __future__ import annotations

import typer

app = typer.Typer(help="List, run and check the local tools.", no_args_is_help=True)
