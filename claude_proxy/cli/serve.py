"""`claude-proxy serve`: run the proxy."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve() -> None:
        """Run the proxy (not built yet)."""
        raise typer.Exit(1)
