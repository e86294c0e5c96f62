"""Settings: one YAML file plus the environment, validated into typed sections.

The file is found in this order: ``--config PATH``, ``$CLAUDE_PROXY_CONFIG``,
``./claude-proxy.yaml``, ``~/.config/claude-proxy/settings.yaml``. Values may use
``${VAR}`` and ``${VAR:-default}``. Unknown keys and wrong types are errors that
name the key and the file, so a typo never silently does nothing. A
``./claude-proxy.yaml`` the user has not trusted (`claude_proxy.trust`) is laid over
the per-user file with only its harmless and guard-tightening keys.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from claude_proxy.errors import SettingsError
from claude_proxy.secrets import is_secret_name, mask_secret, mask_url
from claude_proxy.trust import is_trusted, split_untrusted

DEFAULT_UPSTREAM = "https://api.anthropic.com"
SEARCH_ORDER_ENV = "CLAUDE_PROXY_CONFIG"
LOCAL_FILE = "claude-proxy.yaml"


def user_config_path() -> Path:
    """Where the per-user settings file lives (``~/.config/claude-proxy/settings.yaml``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "claude-proxy" / "settings.yaml"


def user_data_dir() -> Path:
    """Where logs and sessions live (``~/.local/share/claude-proxy``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "claude-proxy"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8082, ge=0, le=65535)
    cors_origins: list[str] = []
    max_body_size: int = Field(32 * 1024 * 1024, gt=0)
    auth_keys: list[str] = []
    allow_unauthenticated: bool = False
    shutdown_timeout: float = Field(30.0, ge=0)
    workers: int = Field(1, ge=1)
    log_level: LogLevel = "info"
    access_log: bool = True
    header_timeout: float = Field(60.0, ge=0)
    keepalive_timeout: float = Field(75.0, gt=0)
    max_connections: int = Field(0, ge=0)


class UpstreamSettings(_Section):
    base_url: str = DEFAULT_UPSTREAM
    api_key: str | None = None
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(600.0, gt=0)
    pool_size: int = Field(1000, ge=1)
    retries: int = Field(2, ge=0)
    retry_backoff: float = Field(0.5, ge=0)
    retry_backoff_max: float = Field(8.0, ge=0)
    retry_after_max: float = Field(60.0, ge=0)
    retry_when_client_retries: bool = False


class LimitsSettings(_Section):
    """Protection against load and hostile clients (issue: faults, keys, limits, metrics)."""

    requests_per_minute: int = Field(0, ge=0)
    input_tokens_per_minute: int = Field(0, ge=0)
    shared_state: str | None = None
    on_store_error: Literal["allow", "deny"] = "allow"
    max_concurrent: int = Field(1000, ge=0)
    max_concurrent_total: int = Field(0, ge=0)
    queue_size: int = Field(100, ge=0)
    queue_timeout: float = Field(10.0, ge=0)
    body_timeout: float = Field(30.0, gt=0)
    metrics: bool = True

    @model_validator(mode="after")
    def _total_needs_redis(self) -> LimitsSettings:
        shared = self.shared_state or ""
        if self.max_concurrent_total and not shared.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("max_concurrent_total needs shared_state: redis://... (it counts across instances)")
        return self


class RetentionSettings(_Section):
    """How much request log to keep: rows older than ``max_age_days``, then the oldest past ``max_size_mb``."""

    max_age_days: float | None = Field(None, gt=0)
    max_size_mb: float | None = Field(None, gt=0)


class PriceSettings(_Section):
    """One model's price in dollars per million tokens; cache prices default to Anthropic's multipliers."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write_5m: float | None = Field(None, ge=0)
    cache_write_1h: float | None = Field(None, ge=0)
    cache_read: float | None = Field(None, ge=0)


_PG_SCHEMES = ("postgresql://", "postgres://")


def _check_log_url(url: str) -> str:
    if not url.startswith(_PG_SCHEMES):
        raise ValueError("use a PostgreSQL URL: postgresql://user:password@host:5432/database")
    return url


class LogSettings(_Section):
    enabled: bool = True
    ui: bool = True
    path: str | None = None
    url: Annotated[str, AfterValidator(_check_log_url)] | None = None  # the log on Postgres; wins over path
    bodies: bool = True
    max_body_bytes: int = Field(1024 * 1024, ge=0)
    queue_size: int = Field(10_000, ge=1)
    batch_size: int = Field(200, ge=1)
    busy_timeout: float = Field(10.0, gt=0)
    drain_timeout: float = Field(10.0, ge=0)
    required: bool = False
    retention: RetentionSettings = RetentionSettings()

    def db_path(self) -> Path:
        return Path(self.path).expanduser() if self.path else user_data_dir() / "requests.db"

    def target(self) -> str:
        """Where the log is: ``url`` when set (or a URL given as the path, as ``--log-db`` does), else the file."""
        if self.url:
            return self.url
        return self.path if self.path and self.path.startswith(_PG_SCHEMES) else str(self.db_path())


class RewriteSettings(_Section):
    model_aliases: dict[str, str] = {}
    system_prepend: str | None = None
    system_append: str | None = None
    append_to_last_user: str | None = None
    set: dict[str, Any] = {}
    drop: list[str] = []
    hooks: list[str] = []


class BackendSettings(_Section):
    """One upstream provider (issue: OpenAI-compatible backends)."""

    kind: Literal["anthropic", "openai"] = "anthropic"
    base_url: str
    api_key: str | None = None
    headers: dict[str, str] = {}
    timeout: float = Field(600.0, gt=0)
    # openai kind only: JSON-schema keywords removed from tool schemas (some providers reject them)
    strip_schema_keywords: list[str] = ["$schema"]
    # openai kind only: how a request's `thinking` reaches the provider
    reasoning: Literal["none", "effort", "openrouter"] = "none"
    # openai kind only: the field carrying max_tokens (newer OpenAI models want max_completion_tokens)
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    # openai kind only: the largest max_tokens the provider accepts; larger requests are lowered to it
    max_tokens_cap: int | None = Field(None, gt=0)
    # openai kind only: stop_sequences sent upstream; the proxy enforces the rest on the answer's text
    max_stop_sequences: int = Field(4, ge=0)
    # openai kind only: seconds of upstream silence before an `event: ping` keeps the client stream alive
    ping_interval: float = Field(10.0, gt=0)
    # openai kind only: seconds to open a connection to the provider
    connect_timeout: float = Field(10.0, gt=0)


class RouteSettings(_Section):
    """Where a requested model goes: a backend and the model name to send it."""

    backend: str
    model: str | None = None
    fallbacks: list[str] = []
    # only on the `long_context` route: estimated input tokens above which it applies
    threshold: int | None = Field(None, gt=0, validation_alias=AliasChoices("threshold", "long_context_threshold"))


def _check_rule(rule: str) -> str:
    from claude_proxy.permission_rules import RuleError, parse_rule

    try:
        parse_rule(rule)
    except RuleError as exc:
        raise ValueError(f"the rule {exc.hint}") from None
    return rule


RuleText = Annotated[str, AfterValidator(_check_rule)]


class PermissionSettings(_Section):
    """Permission rules in Claude Code's syntax: ``Tool`` or ``Tool(specifier)``."""

    default_mode: Literal["default", "acceptEdits", "plan", "bypassPermissions"] = "default"
    allow: list[RuleText] = []
    ask: list[RuleText] = []
    deny: list[RuleText] = []


class SandboxSettings(_Section):
    mode: Literal["auto", "bwrap", "off"] = "auto"
    network: bool = False
    writable_paths: list[str] = []


class BashToolSettings(_Section):
    """Limits of the Bash tool."""

    default_timeout: float = Field(120.0, gt=0, le=600)
    max_output_chars: int = Field(30_000, ge=1000)
    pass_secret_env: bool = False


class GrepToolSettings(_Section):
    """Which Grep back end runs: ripgrep when installed, else the pure-Python one."""

    backend: Literal["auto", "ripgrep", "python"] = "auto"


class WebToolSettings(_Section):
    """WebFetch's network policy and limits (SSRF protection is on by default)."""

    allow_hosts: list[str] = []
    deny_hosts: list[str] = []
    allow_private_addresses: bool = False
    allowed_networks: list[str] = []
    max_bytes: int = Field(10 * 1024 * 1024, gt=0)
    max_chars: int = Field(100_000, gt=0)
    timeout: float = Field(30.0, gt=0)
    max_redirects: int = Field(10, ge=0, le=30)


class SearchToolSettings(_Section):
    """WebSearch's back end: none, searxng, brave, or a ``module:factory`` plug-in."""

    backend: str = "none"
    searxng_url: str | None = None
    brave_api_key: str | None = None
    brave_url: str = "https://api.search.brave.com/res/v1/web/search"
    max_results: int = Field(10, ge=1, le=50)
    timeout: float = Field(15.0, gt=0)


class ToolsSettings(_Section):
    extra_roots: list[str] = []
    bash: BashToolSettings = BashToolSettings()
    grep: GrepToolSettings = GrepToolSettings()
    web: WebToolSettings = WebToolSettings()
    search: SearchToolSettings = SearchToolSettings()


class McpServerSettings(_Section):
    """One MCP server: a program over stdio, or a streamable-HTTP URL (Claude Code's ``.mcp.json`` shape)."""

    type: Literal["stdio", "http"] = "stdio"
    command: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}
    url: str | None = None
    headers: dict[str, str] = {}

    @model_validator(mode="after")
    def _transport_fields(self) -> "McpServerSettings":
        if self.type == "stdio" and not self.command:
            raise ValueError("a stdio server needs 'command'")
        if self.type == "http" and not (self.url or "").startswith(("http://", "https://")):
            raise ValueError("an http server needs 'url' (http:// or https://)")
        return self


MCP_SERVER_NAME = r"^[A-Za-z0-9-]+(_[A-Za-z0-9-]+)*$"  # no "__": it separates server and tool in mcp__s__t


class McpSettings(_Section):
    """MCP servers whose tools `chat` offers as ``mcp__server__tool``, and how they are looked after."""

    servers: dict[Annotated[str, Field(pattern=MCP_SERVER_NAME)], McpServerSettings] = {}
    project_file: bool = True
    startup_timeout: float = Field(30.0, gt=0)
    call_timeout: float = Field(600.0, gt=0)
    max_restarts: int = Field(3, ge=0)
    restart_backoff: float = Field(1.0, ge=0)
    restart_backoff_max: float = Field(30.0, ge=0)
    health_interval: float = Field(15.0, gt=0)


class ChatSettings(_Section):
    model: str = "claude-sonnet-4-6"
    small_model: str = "claude-haiku-4-5"
    max_tokens: int = Field(8192, gt=0)
    thinking_budget: int = Field(0, ge=0)
    max_turns: int = Field(100, ge=1)
    api_key: str | None = None
    auth_token: str | None = None
    base_url: str | None = None
    max_retries: int = Field(2, ge=0)
    timeout: float = Field(600.0, gt=0)
    history_file: str | None = None
    sessions_path: str | None = None
    memory: bool = True
    context_window: int = Field(200_000, gt=0)
    auto_compact: float = Field(0.8, ge=0, le=1)

    def history_path(self) -> Path:
        return Path(self.history_file).expanduser() if self.history_file else user_data_dir() / "chat_history"

    def sessions_db(self) -> Path:
        return Path(self.sessions_path).expanduser() if self.sessions_path else user_data_dir() / "sessions.db"


class Settings(_Section):
    server: ServerSettings = ServerSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    limits: LimitsSettings = LimitsSettings()
    log: LogSettings = LogSettings()
    rewrite: RewriteSettings = RewriteSettings()
    backends: dict[str, BackendSettings] = {}
    routes: dict[str, RouteSettings] = {}
    permissions: PermissionSettings = PermissionSettings()
    sandbox: SandboxSettings = SandboxSettings()
    tools: ToolsSettings = ToolsSettings()
    chat: ChatSettings = ChatSettings()
    mcp: McpSettings = McpSettings()
    prices: dict[str, PriceSettings] = {}

    source: str | None = Field(default=None, exclude=True)
    ignored: list[str] = Field(default=[], exclude=True)  # keys an untrusted file could not set

    def upstream_key(self) -> str | None:
        """The key the proxy sends upstream: settings first, then ``$ANTHROPIC_API_KEY``."""
        return self.upstream.api_key or os.environ.get("ANTHROPIC_API_KEY") or None


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def expand_env(value: Any, env: Mapping[str, str] | None = None, key: str = "") -> Any:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in every string of a loaded YAML tree.

    An unset ``${VAR}`` without a default is an error naming the variable and the key:
    quietly becoming "" would turn a forgotten key into an unauthenticated setup.
    ``${VAR:-}`` spells out an empty default.
    """
    variables: Mapping[str, str] = os.environ if env is None else env
    if isinstance(value, str):
        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if default is not None:
                return variables.get(name) or default
            if name not in variables:
                raise SettingsError(f"'{key or '(top level)'}': ${{{name}}} is not set "
                                    f"(set it, or write ${{{name}:-}} for an empty default)")
            return variables[name]

        return _VAR.sub(substitute, value)
    if isinstance(value, list):
        return [expand_env(v, variables, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: expand_env(v, variables, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    return value


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The settings file to use, in the documented search order, or None."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise SettingsError(f"settings file not found: {path}")
        return path
    env_path = os.environ.get(SEARCH_ORDER_ENV)
    if env_path:
        path = Path(env_path).expanduser()
        if not path.is_file():
            raise SettingsError(f"settings file not found: {path} (from ${SEARCH_ORDER_ENV})")
        return path
    for candidate in (Path.cwd() / LOCAL_FILE, user_config_path()):
        if candidate.is_file():
            return candidate
    return None


def _describe(error: ErrorDetails) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"unknown key '{key}'"
    got = error.get("input")
    shown = f" (got {got!r})" if got is not None and not isinstance(got, (dict, list)) else ""
    return f"'{key}': {error['msg'].lower()}{shown}"


def parse_settings(data: Any, source: str = "<settings>") -> Settings:
    """Validate an already-loaded mapping; errors name the key and the source."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SettingsError(f"{source}: the top level must be a mapping of sections")
    try:
        settings = Settings.model_validate(expand_env(data))
    except SettingsError as exc:
        raise SettingsError(f"{source}: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise SettingsError(f"{source}: {problems}") from None
    settings.source = source
    return settings


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise SettingsError(f"{path}:{where} not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


_warned: set[str] = set()


def _untrusted(path: Path, data: Any) -> Settings:
    """``data`` from an untrusted working-directory file, over the per-user settings."""
    parse_settings(data, str(path))  # still validated whole: a typo is an error, not ignored
    user = user_config_path()
    base = _read_yaml(user) if user.is_file() else {}
    base = base if isinstance(base, dict) else {}
    merged, ignored = split_untrusted(data or {}, base)
    source = f"{path} (untrusted: harmless keys only)" + (f" over {user}" if user.is_file() else "")
    settings = parse_settings(merged, source)
    settings.ignored = ignored
    key = f"{path}:{','.join(ignored)}"
    if ignored and key not in _warned:
        _warned.add(key)
        logging.getLogger(__name__).warning(
            "%s is not trusted, so these keys were ignored: %s (a file in the working directory may have "
            "been written by the agent; run `claude-proxy config trust` to apply it whole)",
            path, ", ".join(ignored))
    return settings


def load_settings(explicit: str | os.PathLike[str] | None = None) -> Settings:
    """Find, read and validate the settings; defaults alone when there is no file.

    A ``./claude-proxy.yaml`` found by the search (not named with ``--config`` or
    ``$CLAUDE_PROXY_CONFIG``) applies whole only when the user trusted it.
    """
    path = find_config(explicit)
    if path is None:
        return Settings()
    data = _read_yaml(path)
    chosen = explicit or os.environ.get(SEARCH_ORDER_ENV)
    if not chosen and path == Path.cwd() / LOCAL_FILE and not is_trusted(path):
        if not isinstance(data, dict) and data is not None:
            parse_settings(data, str(path))
        return _untrusted(path, data)
    return parse_settings(data, str(path))


def masked(data: Any, key: str = "") -> Any:
    """A copy of a settings tree with every secret-looking value masked."""
    if isinstance(data, dict):
        return {k: masked(v, k) for k, v in data.items()}
    if isinstance(data, list):
        return [masked(v, key) for v in data]
    if isinstance(data, str) and is_secret_name(key):
        return mask_secret(data)
    if isinstance(data, str) and "://" in data:
        return mask_url(data)
    return data
