"""Which settings files the user trusts, and what an untrusted one may still set.

A settings file found in the working directory (``./claude-proxy.yaml``) may have been
written by anyone who could write the project, the agent included. Its keys apply in
full only when the user trusted that exact file: the trust list
(``~/.config/claude-proxy/trusted.json``) maps the file's absolute path to the SHA-256
of its bytes, so any change makes it untrusted again. A file passed with ``--config``
or ``$CLAUDE_PROXY_CONFIG``, and the per-user file, are the user's own choice and
always trusted.

From an untrusted file, `split_untrusted` keeps only harmless keys (`HARMLESS`: the
model, output sizes, timeouts, log level) and settings that tighten the guard
(`tightened`: more ``deny``/``ask`` rules, a stricter permission mode, a required
sandbox, no network in it, no secrets passed, private addresses closed). Everything
else, such as credentials, base URLs, allow rules, extra roots, hooks and routes, is
ignored and named once. The list is an allow-list: a new setting is untrusted until
it is added here.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from claude_proxy.errors import SettingsError

HARMLESS = frozenset({
    "chat.model", "chat.small_model", "chat.max_tokens", "chat.thinking_budget", "chat.max_turns",
    "chat.max_retries", "chat.timeout",
    "server.port", "server.log_level", "server.shutdown_timeout",
    "log.bodies", "log.max_body_bytes",
    "tools.grep.backend", "tools.bash.default_timeout", "tools.bash.max_output_chars",
    "tools.web.max_bytes", "tools.web.max_chars", "tools.web.timeout", "tools.web.max_redirects",
    "tools.web.deny_hosts", "tools.search.max_results", "tools.search.timeout",
})
# strictest first; an untrusted file may move the mode towards the front only
MODE_ORDER = ("plan", "default", "acceptEdits", "bypassPermissions")


def trust_store_path() -> Path:
    """``~/.config/claude-proxy/trusted.json`` (``$XDG_CONFIG_HOME`` respected)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "claude-proxy" / "trusted.json"


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_store() -> dict[str, str]:
    try:
        data = json.loads(trust_store_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SettingsError(f"cannot read the trust list {trust_store_path()}: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"the trust list {trust_store_path()} is not a JSON object")
    return {str(k): str(v) for k, v in data.items()}


def is_trusted(path: Path) -> bool:
    """Whether the user trusted this file, at this very path, with exactly its current contents.

    Keyed by the path as given, symlinks not resolved: a link planted in another
    project towards a file trusted elsewhere is a different, untrusted path.
    """
    full = Path(os.path.abspath(path))
    try:
        digest = file_digest(full)
    except OSError:
        return False
    return _load_store().get(str(full)) == digest


def trust(path: Path) -> str:
    """Add the file, as it is now, to the trust list; returns its digest."""
    full = Path(os.path.abspath(path))
    try:
        digest = file_digest(full)
    except OSError as exc:
        raise SettingsError(f"cannot read {full}: {exc.strerror}") from None
    store = _load_store()
    store[str(full)] = digest
    _save_store(store)
    return digest


def untrust(path: Path) -> bool:
    """Remove the file from the trust list; False when it was not on it."""
    full = str(Path(os.path.abspath(path)))
    store = _load_store()
    if store.pop(full, None) is None:
        return False
    _save_store(store)
    return True


def _save_store(store: dict[str, str]) -> None:
    target = trust_store_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(store, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists and non-section values are leaves."""
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and name not in ("backends", "routes", "rewrite.model_aliases",
                                                    "rewrite.set"):
            out.update(_flatten(value, name))
        else:
            out[name] = value
    return out


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *sections, key = dotted.split(".")
    for section in sections:
        if not isinstance(tree.get(section), dict):
            tree[section] = {}
        tree = tree[section]
    tree[key] = value


def tightened(key: str, value: Any, base: dict[str, Any]) -> Any:
    """The value an untrusted file may set for a guard key, given the trusted ``base``; None: ignore."""
    current = base.get(key)
    if key in ("permissions.deny", "permissions.ask") and isinstance(value, list):
        return list(dict.fromkeys([*(current or []), *value]))
    if key == "permissions.default_mode" and value in MODE_ORDER:
        now = current if current in MODE_ORDER else "default"
        return value if MODE_ORDER.index(value) <= MODE_ORDER.index(now) else None
    if key == "sandbox.mode" and value == "bwrap":
        return value
    if key in ("sandbox.network", "tools.bash.pass_secret_env", "tools.web.allow_private_addresses") \
            and value is False:
        return value
    return None


def split_untrusted(data: dict[str, Any], base: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """What an untrusted file's ``data`` may add on top of the trusted ``base`` (both as loaded).

    Returns the merged tree and the dotted keys that were ignored, in file order.
    """
    merged = copy.deepcopy(base)
    flat_base = _flatten(base)
    ignored: list[str] = []
    for key, value in _flatten(data).items():
        if "${" in json.dumps(value, default=str):
            ignored.append(key)  # no environment variable reaches the agent through an untrusted file
        elif key in HARMLESS:
            _set(merged, key, value)
        elif (allowed := tightened(key, value, flat_base)) is not None:
            _set(merged, key, allowed)
        else:
            ignored.append(key)
    return merged, ignored
