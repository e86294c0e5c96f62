"""Access keys: who may use a shared proxy, without sharing the Anthropic key.

When keys are configured (``server.auth_keys`` or ``$CLAUDE_PROXY_KEYS``), every
``/v1`` request must present one, as ``x-api-key`` or ``Authorization: Bearer``;
the proxy then strips the client's credentials and sends its own upstream key.
Keys are compared as SHA-256 digests with ``hmac.compare_digest`` against every
configured key, so neither timing nor length tells a guesser anything.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from typing import TYPE_CHECKING, Iterable, Mapping, MutableMapping

from claude_proxy.proxy.errors import ProxyError
from claude_proxy.secrets import mask_secret

if TYPE_CHECKING:
    from claude_proxy.settings import ServerSettings

KEYS_ENV = "CLAUDE_PROXY_KEYS"
CREDENTIAL_HEADERS = ("x-api-key", "authorization")
_SPLIT = re.compile(r"[\s,]+")


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a client sent: ``x-api-key`` first, else an ``Authorization: Bearer`` token."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


class AccessKeys:
    """The configured access keys, checked in constant time."""

    def __init__(self, keys: Iterable[str]) -> None:
        unique = list(dict.fromkeys(k.strip() for k in keys if k and k.strip()))
        self._digests = [_digest(k) for k in unique]
        self._labels = [f"key-{i + 1}:{mask_secret(k)}" for i, k in enumerate(unique)]

    @classmethod
    def from_settings(cls, server: ServerSettings, env: Mapping[str, str] | None = None) -> AccessKeys:
        """``server.auth_keys`` plus ``$CLAUDE_PROXY_KEYS`` (comma or space separated)."""
        env = os.environ if env is None else env
        from_env = [k for k in _SPLIT.split(env.get(KEYS_ENV, "")) if k]
        return cls([*server.auth_keys, *from_env])

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def __len__(self) -> int:
        return len(self._digests)

    def identify(self, headers: Mapping[str, str]) -> str | None:
        """The label of the key presented (safe to log), or raise 401.

        Returns None when no keys are configured (the proxy is open).
        """
        if not self._digests:
            return None
        key = presented_key(headers)
        if key is None:
            raise ProxyError(401, "this proxy requires an access key: send it as x-api-key "
                                  "or 'Authorization: Bearer <key>'")
        wanted = _digest(key)
        found = -1
        for index, digest in enumerate(self._digests):
            if hmac.compare_digest(wanted, digest):
                found = index
        if found < 0:
            raise ProxyError(401, f"invalid access key {mask_secret(key)}")
        return self._labels[found]


def use_upstream_key(headers: MutableMapping[str, str], upstream_key: str | None) -> None:
    """Replace the client's credentials with the proxy's own upstream key (in place).

    ``headers`` must be a case-insensitive mapping (aiohttp's ``CIMultiDict``) or use
    lower-case names.
    """
    for name in CREDENTIAL_HEADERS:
        while name in headers:
            del headers[name]
    if upstream_key:
        headers["x-api-key"] = upstream_key


def is_loopback(host: str) -> bool:
    """True only for addresses provably on this machine; names other than localhost are not."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(hosts: Iterable[str], keys: AccessKeys, allow_unauthenticated: bool) -> None:
    """Refuse to listen beyond loopback with no access keys, unless explicitly allowed.

    Raises ``ValueError`` with a message fit for the CLI's one-line error.
    """
    if keys.enabled or allow_unauthenticated:
        return
    exposed = [h for h in hosts if not is_loopback(h)]
    if exposed:
        raise ValueError(
            f"refusing to listen on {', '.join(h or '0.0.0.0' for h in exposed)} without access keys: "
            f"set server.auth_keys or ${KEYS_ENV}, or pass --allow-unauthenticated"
        )
