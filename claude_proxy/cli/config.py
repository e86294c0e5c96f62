"""`claude-proxy config show|check|init|route|trust`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from claude_proxy.cli.errors import CLIError

app = typer.Typer(help="Show, check and create the settings file.", no_args_is_help=True)

ConfigOption = typer.Option(None, "--config", "-c", help="Settings file (default: the search order in the README).")


@app.command()
def show(config: Optional[str] = ConfigOption,
         json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the effective settings, with secrets masked."""
    import json

    import yaml

    from claude_proxy.settings import load_settings, masked

    settings = load_settings(config)
    data = masked(settings.model_dump(mode="json"))
    if json_out:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"# source: {settings.source or 'built-in defaults'}")
    if settings.ignored:
        typer.echo(f"# ignored (file not trusted): {', '.join(settings.ignored)}")
    typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip())


@app.command()
def check(config: Optional[str] = ConfigOption) -> None:
    """Validate the settings; exit 1 with the reason when they are wrong."""
    from claude_proxy.proxy.routing.routes import Router
    from claude_proxy.settings import SettingsError, load_settings

    try:
        settings = load_settings(config)
        Router(settings)  # routes must name known backends
    except SettingsError as exc:
        raise CLIError(str(exc), exit_code=1) from None
    typer.echo(f"ok: {settings.source or 'no settings file; built-in defaults'}")


@app.command()
def init(
    path: Path = typer.Argument(Path("claude-proxy.yaml"), help="Where to write the file."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write the documented example settings (every key, its default and what it does), and trust it."""
    from importlib import resources

    from claude_proxy.settings import SettingsError
    from claude_proxy.trust import trust

    if path.exists() and not force:
        raise CLIError(f"{path} already exists (use --force to overwrite)")
    try:
        example = resources.files("claude_proxy").joinpath("settings.example.yaml").read_text(encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"the settings example is missing from this installation: {exc}") from None
    try:
        path.write_text(example, encoding="utf-8")
        trust(path)
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror}") from None
    except SettingsError as exc:
        raise CLIError(str(exc)) from None
    typer.echo(f"wrote {path} (trusted as written; after you edit it, run `claude-proxy config trust`)")


@app.command()
def route(
    model: str = typer.Argument(..., help="The model name a client would ask for."),
    thinking: bool = typer.Option(False, "--thinking", help="As a request with thinking on."),
    tokens: int = typer.Option(0, "--tokens", help="As a request of about this many input tokens."),
    config: Optional[str] = ConfigOption,
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show where a request for MODEL would go: route, backend, upstream model."""
    from claude_proxy.proxy.routing.routes import Router
    from claude_proxy.settings import SettingsError, load_settings

    try:
        router = Router(load_settings(config))
    except SettingsError as exc:
        raise CLIError(str(exc), exit_code=1) from None
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "x" * (tokens * 4)}]}
    if thinking:
        body["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    chosen = router.route(model, body)
    if json_out:
        import json

        typer.echo(json.dumps({"model": model, "route": chosen.name or None, "backend": chosen.backend_name,
                               "kind": chosen.kind, "upstream_model": chosen.upstream_model(model),
                               "target": chosen.label(model)}))
        return
    rule = f"route: {chosen.name}" if chosen.name else "no route matches: pass-through"
    typer.echo(f"{model} -> {chosen.label(model)} ({chosen.kind}; {rule})")


@app.command("trust")
def trust_command(
    path: Path = typer.Argument(Path("claude-proxy.yaml"), help="The settings file to trust."),
    revoke: bool = typer.Option(False, "--revoke", help="Remove the file from the trust list."),
) -> None:
    """Trust a working-directory settings file as it is now (a later change untrusts it)."""
    from claude_proxy.settings import SettingsError, parse_settings
    from claude_proxy.trust import trust, trust_store_path, untrust

    try:
        if revoke:
            removed = untrust(path)
            typer.echo(f"{'removed' if removed else 'was not trusted:'} {path.absolute()}")
            return
        if not path.is_file():
            raise CLIError(f"settings file not found: {path}")
        import yaml

        try:
            parse_settings(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
        except yaml.YAMLError as exc:
            raise CLIError(f"{path}: not valid YAML: {exc}") from None
        digest = trust(path)
    except SettingsError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        raise CLIError(f"cannot update {trust_store_path()}: {exc.strerror}") from None
    typer.echo(f"trusted {path.absolute()} (sha256 {digest[:12]}); any change to it untrusts it again")
