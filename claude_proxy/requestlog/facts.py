"""What the trace store keeps beside the row: session header, the key that paid, rate limits, 1-hour cache writes.

Read from the entry and its assembled message in the writer, never on the request path.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from claude_proxy.secrets import mask_secret

SESSION_HEADER = "x-claude-code-session-id"
RATELIMIT_PREFIX = "anthropic-ratelimit-"


def header(headers: Mapping[str, Any], name: str) -> str | None:
    """A header's value whatever case its name was sent in (None when absent)."""
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            return str(value)
    return None


def session_header(headers: Mapping[str, Any]) -> str | None:
    """Claude Code's session id, which groups every request of one ``claude`` run."""
    value = header(headers, SESSION_HEADER)
    return value.strip()[:200] or None if value else None


def key_hint(headers: Mapping[str, Any]) -> str | None:
    """The client's key as the log may show it (last four characters), for usage by key."""
    value = header(headers, "x-api-key") or header(headers, "authorization")
    if not value:
        return None
    scheme, _, rest = value.partition(" ")
    return mask_secret(rest.strip() if rest and scheme.lower() == "bearer" else value.strip())


def ratelimit(headers: Mapping[str, Any]) -> str | None:
    """Anthropic's rate-limit headers (``anthropic-ratelimit-*`` and ``retry-after``) as JSON, names shortened.

    ``requests-remaining``, ``tokens-reset``, ``input-tokens-limit``..., and for subscription
    traffic the unified windows (``unified-5h-utilization``, ``unified-status``...).
    """
    found: dict[str, str] = {}
    for key, value in headers.items():
        lowered = str(key).lower()
        if lowered.startswith(RATELIMIT_PREFIX):
            found[lowered[len(RATELIMIT_PREFIX):]] = str(value)
        elif lowered == "retry-after":
            found["retry-after"] = str(value)
    return json.dumps(found, sort_keys=True) if found else None


MAX_COUNT = (1 << 63) - 1  # what a SQLite INTEGER and a Postgres BIGINT hold


def count(value: Any) -> int | None:
    """A token count as a column keeps it: an integer a database can store, else None (unknown)."""
    return value if isinstance(value, int) and -MAX_COUNT <= value <= MAX_COUNT else None


def long_cache_writes(message: Mapping[str, Any] | None) -> int | None:
    """Tokens written to the 1-hour cache, from ``usage.cache_creation.ephemeral_1h_input_tokens``.

    The values are parsed JSON, so plain dicts: ``isinstance(x, dict)`` skips the ABC machinery a
    ``Mapping`` check runs, once per row in the writer.
    """
    usage = message.get("usage") if isinstance(message, dict) else None
    creation = usage.get("cache_creation") if isinstance(usage, dict) else None
    return count(creation.get("ephemeral_1h_input_tokens")) if isinstance(creation, dict) else None
