"""`claude-proxy config` and the CLI's common behaviour, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.processes


def run(cli: list[str], env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*cli, *args], env=env, cwd=cwd, text=True, capture_output=True, timeout=60)


def test_config_init_works_from_a_built_package_and_writes_the_documented_example(
        cli_env: dict[str, str], tmp_path: Path) -> None:
    build, egg = tmp_path / "build", tmp_path / "egg"
    egg.mkdir()
    setup = ("import setuptools, sys; sys.argv = ['setup.py', '-q', 'egg_info', '--egg-base', sys.argv[1], "
             "'build_py', '--build-lib', sys.argv[2]]; setuptools.setup()")
    subprocess.run([sys.executable, "-c", setup, str(egg), str(build)], cwd=REPO, check=True, capture_output=True,
                   timeout=120)
    shipped = build / "claude_proxy" / "settings.example.yaml"
    assert shipped.is_file() and not shipped.is_symlink(), "the package carries the file itself"
    env = {**cli_env, "PYTHONPATH": str(build)}
    work = tmp_path / "elsewhere"
    work.mkdir()
    proc = run([sys.executable, "-m", "claude_proxy"], env, "config", "init", cwd=work)
    assert proc.returncode == 0, proc.stderr
    written = (work / "claude-proxy.yaml").read_text()
    assert written == (REPO / "settings.example.yaml").read_text()
    check = run([sys.executable, "-m", "claude_proxy"], env, "config", "check", "--config", "claude-proxy.yaml",
                cwd=work)
    assert check.returncode == 0 and check.stdout.startswith("ok"), check.stderr
    again = run([sys.executable, "-m", "claude_proxy"], env, "config", "init", cwd=work)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_config_check_fails_on_an_unset_variable(cli: list[str], cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("chat:\n  api_key: ${CLAUDE_PROXY_TEST_NOT_SET}\n")
    proc = run(cli, cli_env, "config", "check", "--config", str(path))
    assert proc.returncode == 1
    assert proc.stderr == (f"claude-proxy: error: {path}: 'chat.api_key': ${{CLAUDE_PROXY_TEST_NOT_SET}} is not set "
                           "(set it, or write ${CLAUDE_PROXY_TEST_NOT_SET:-} for an empty default)\n")


def test_dash_h_is_help_everywhere(cli: list[str], cli_env: dict[str, str]) -> None:
    for args in [(), ("chat",), ("config",), ("config", "route"), ("serve",), ("logs", "list")]:
        proc = run(cli, cli_env, *args, "-h")
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Usage:" in proc.stdout and "--help" in proc.stdout, args


def test_config_route_json(cli: list[str], cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("backends:\n  local: {kind: openai, base_url: http://127.0.0.1:9/v1}\n"
                    "routes:\n  fast: {backend: local, model: qwen}\n")
    proc = run(cli, cli_env, "config", "route", "fast", "--config", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"model": "fast", "route": "fast", "backend": "local", "kind": "openai",
                                       "upstream_model": "qwen", "target": "local/qwen"}
    proc = run(cli, cli_env, "config", "route", "claude-opus-4-1", "--config", str(path), "--json")
    assert json.loads(proc.stdout)["route"] is None


def test_shell_completion_is_offered(cli: list[str], cli_env: dict[str, str]) -> None:
    proc = run(cli, {**cli_env, "SHELL": "/bin/bash"}, "--show-completion", "bash")
    assert proc.returncode == 0, proc.stderr
    assert "complete" in proc.stdout and "claude" in proc.stdout
    assert "--install-completion" in run(cli, cli_env, "--help").stdout
