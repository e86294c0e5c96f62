"""`claude-proxy chat`: the terminal agent."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def chat() -> None:
        """Talk to Claude in the terminal (not built yet)."""
        raise typer.Exit(1)
