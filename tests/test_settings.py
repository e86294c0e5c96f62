"""Settings: search order, env expansion, clear errors that name the key and the file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from claude_proxy.settings import SettingsError, expand_env, load_settings, masked, parse_settings

pytestmark = pytest.mark.processes


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLAUDE_PROXY_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    settings = load_settings()
    assert settings.upstream.base_url == "https://api.anthropic.com"
    assert settings.server.port == 8082
    assert settings.source is None


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    user = tmp_path / "cfg" / "claude-proxy" / "settings.yaml"
    user.parent.mkdir(parents=True)
    user.write_text("server: {port: 1001}\n")
    monkeypatch.delenv("CLAUDE_PROXY_CONFIG", raising=False)
    assert load_settings().server.port == 1001
    (tmp_path / "claude-proxy.yaml").write_text("server: {port: 1002}\n")
    assert load_settings().server.port == 1002
    env_file = tmp_path / "env.yaml"
    env_file.write_text("server: {port: 1003}\n")
    monkeypatch.setenv("CLAUDE_PROXY_CONFIG", str(env_file))
    assert load_settings().server.port == 1003
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("server: {port: 1004}\n")
    assert load_settings(explicit).server.port == 1004


def test_env_expansion_with_defaults() -> None:
    env = {"KEY": "sk-secret"}
    assert expand_env({"a": "${KEY}", "b": ["${MISSING:-fallback}"], "c": "x${MISSING:-}y"}, env) == {
        "a": "sk-secret",
        "b": ["fallback"],
        "c": "xy",
    }


def test_an_unset_variable_without_default_names_the_variable_and_the_key(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CLAUDE_PROXY_TEST_UNSET", raising=False)
    monkeypatch.setenv("CLAUDE_PROXY_TEST_EMPTY", "")
    path = tmp_path / "s.yaml"
    path.write_text("backends:\n  ext: {kind: openai, base_url: http://127.0.0.1:9,\n"
                    "        api_key: '${CLAUDE_PROXY_TEST_UNSET}'}\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert str(caught.value) == (f"{path}: 'backends.ext.api_key': ${{CLAUDE_PROXY_TEST_UNSET}} is not set "
                                 "(set it, or write ${CLAUDE_PROXY_TEST_UNSET:-} for an empty default)")
    path.write_text("permissions: {allow: ['Bash(echo ${CLAUDE_PROXY_TEST_UNSET})']}\n")
    with pytest.raises(SettingsError, match=r"'permissions\.allow\[0\]': \$\{CLAUDE_PROXY_TEST_UNSET\}"):
        load_settings(path)
    path.write_text("chat: {api_key: '${CLAUDE_PROXY_TEST_EMPTY}'}\n")
    assert load_settings(path).chat.api_key == "", "set but empty is not unset"


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("upstream:\n  base_ur1: http://x\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    assert "upstream.base_ur1" in str(err.value)
    assert str(path) in str(err.value)


def test_wrong_type_names_key() -> None:
    with pytest.raises(SettingsError, match=r"server\.port"):
        parse_settings({"server": {"port": "eighty"}}, "x.yaml")


def test_bad_yaml_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("server: [unclosed\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(path)


def test_a_settings_file_that_is_not_utf8_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"server:\n  host: caf\xe9\n")  # Latin-1, as an old editor may save it
    with pytest.raises(SettingsError, match="not UTF-8 text"):
        load_settings(path)


def test_missing_explicit_file() -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings("/nonexistent/claude-proxy.yaml")


def test_masking_keeps_last_four() -> None:
    data = {"upstream": {"api_key": "sk-ant-abcdefgh1234"}, "server": {"auth_keys": ["team-key-9999"]}}
    assert masked(data) == {"upstream": {"api_key": "****1234"}, "server": {"auth_keys": ["****9999"]}}


def test_log_url_is_a_postgres_url_that_wins_over_the_path_and_is_shown_masked() -> None:
    with pytest.raises(SettingsError, match=r"log\.url"):
        parse_settings({"log": {"url": "mysql://db/log"}}, "x.yaml")
    url = "postgresql://proxy:s3cretpassw0rd@db.internal:5432/log"
    settings = parse_settings({"log": {"path": "/var/log/requests.db", "url": url}}, "x.yaml")
    assert settings.log.target() == url
    assert parse_settings({"log": {"path": "postgres://db/log"}}, "x.yaml").log.target() == "postgres://db/log"
    assert parse_settings({"log": {"path": "/tmp/r.db"}}, "x.yaml").log.target() == "/tmp/r.db"
    shown = masked(settings.model_dump(mode="json"))["log"]["url"]
    assert "s3cretpassw0rd" not in shown and shown.startswith("postgresql://proxy:****")


def test_example_settings_file_is_valid() -> None:
    example = Path(__file__).resolve().parent.parent / "settings.example.yaml"
    settings = load_settings(example)
    assert settings.upstream.base_url == "https://api.anthropic.com"


def test_config_cli(cli: list[str], cli_env: dict[str, str], tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("upstream:\n  api_key: sk-ant-verysecret-7777\n")
    shown = subprocess.run([*cli, "config", "show", "--config", str(good)], env=cli_env, capture_output=True, text=True)
    assert shown.returncode == 0
    assert "****7777" in shown.stdout and "verysecret" not in shown.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  prot: 1\n")
    checked = subprocess.run([*cli, "config", "check", "--config", str(bad)], env=cli_env,
                             capture_output=True, text=True)
    assert checked.returncode == 1
    assert "server.prot" in checked.stderr and "Traceback" not in checked.stderr
    assert len(checked.stderr.strip().splitlines()) == 1

    target = tmp_path / "new.yaml"
    made = subprocess.run([*cli, "config", "init", str(target)], env=cli_env, capture_output=True, text=True)
    assert made.returncode == 0 and target.exists()
    ok = subprocess.run([*cli, "config", "check", "--config", str(target)], env=cli_env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    again = subprocess.run([*cli, "config", "init", str(target)], env=cli_env, capture_output=True, text=True)
    assert again.returncode == 1 and "already exists" in again.stderr
