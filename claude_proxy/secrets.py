"""What a secret is, and how one is shown: the one definition every part uses.

A name is secret when it is a known credential header (``authorization``,
``x-api-key``, cookies) or when one of its parts (split at ``-``, ``_``, ``.`` and
spaces) names a credential: ``ANTHROPIC_API_KEY``, ``auth_keys``, ``x-goog-api-key``,
``GITHUB_TOKEN``, ``DB_PASSWORD``, ``aws_secret_access_key``. A part that ends in a
credential word counts too (``APIKEY``, ``GHTOKEN``), so a run-together name is not
missed. The request log masks headers and query parameters by it, ``config show``
masks settings by it, the OpenAI relay masks provider headers by it, and the Bash tool
keeps such variables out of a command's environment.

A secret value is shown by its last four characters only (``****wxyz``): enough to
tell two keys apart, useless to anyone who reads it. A URL's password (``redis://:pw@host``,
``postgresql://user:pw@host/db``) is masked the same way by ``mask_url``.
"""

from __future__ import annotations

import re
from functools import lru_cache

SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie",
})
_SECRET_PARTS = frozenset({
    "key", "apikey", "token", "secret", "password", "passwd", "auth", "session", "cookie",
    "credential", "credentials", "signature", "sig",
})
_SECRET_ENDINGS = ("key", "keys", "token", "secret", "secrets", "password", "passwd",
                   "credential", "credentials")
_SEPARATORS = re.compile(r"[-_.\s]+")


def mask_secret(value: str) -> str:
    """Show only the last four characters of a secret (nothing of a short one)."""
    if not value:
        return value
    return "****" + value[-4:] if len(value) > 8 else "****"


@lru_cache(maxsize=2048)
def is_secret_name(name: str) -> bool:
    """True for header, parameter, setting or variable names that carry credentials."""
    lowered = name.lower()
    if lowered in SECRET_HEADERS:
        return True
    return any(part in _SECRET_PARTS or part.endswith(_SECRET_ENDINGS) for part in _SEPARATORS.split(lowered))


_QUERY_PAIR = re.compile(r"([?&])([^=&#]+)=([^&#]*)")


def _password_span(url: str) -> tuple[int, int] | None:
    """Where a URL's password is (``scheme://user:PASSWORD@host``), found by its delimiters alone, so
    that a URL too malformed to parse (an error quoting it whole) still has it found."""
    start = url.find("://")
    if start < 0:
        return None
    start += 3
    authority_end = len(url)
    for mark in "/?#":
        found = url.find(mark, start)
        if found >= 0:
            authority_end = min(authority_end, found)
    at = url.rfind("@", start, authority_end)
    colon = url.find(":", start, at) if at >= 0 else -1
    if colon < 0 or colon + 1 == at:
        return None
    return colon + 1, at


def url_secrets(url: str) -> list[str]:
    """The secrets written in a URL (its password, credential query values), to keep out of any text."""
    span = _password_span(url)
    found = [url[span[0]:span[1]]] if span else []
    query = url.find("?")
    if query >= 0:
        found += [m[3] for m in _QUERY_PAIR.finditer(url[query:]) if m[3] and is_secret_name(m[2])]
    return found


def mask_url(url: str) -> str:
    """The URL with its password masked, for messages and ``config show``: the one after the user
    name, and query parameters that name a credential (``?password=...``, which libpq reads too)."""
    span = _password_span(url)
    if span is not None:
        url = url[:span[0]] + mask_secret(url[span[0]:span[1]]) + url[span[1]:]
    query = url.find("?")
    if query < 0:
        return url
    return url[:query] + _QUERY_PAIR.sub(
        lambda m: f"{m[1]}{m[2]}={mask_secret(m[3])}" if is_secret_name(m[2]) else m[0], url[query:])


def scrub_url_secrets(text: str, url: str) -> str:
    """``text`` (a driver's error message, say) with the secrets of ``url`` kept out of it."""
    text = text.replace(url, mask_url(url))  # the URL quoted whole
    for secret in url_secrets(url):
        if len(secret) >= 4:  # a shorter one would mangle the text it is searched in
            text = text.replace(secret, "****")
    return text
