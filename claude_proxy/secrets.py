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


def mask_url(url: str) -> str:
    """The URL with its password masked, for messages and ``config show``."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:{mask_secret(password)}@{netloc[-1]}").geturl()
