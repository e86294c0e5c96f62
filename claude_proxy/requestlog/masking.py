"""Masking secrets before anything is written down: headers, query strings, bodies.

A secret keeps only its last four characters (``****wxyz``), enough to tell two
keys apart and useless to anyone reading the log. What counts as a secret is
decided by the header or parameter name (`claude_proxy.secrets.is_secret_name`) and by the value's shape
(``sk-...`` keys, bearer tokens, JWTs) wherever it appears in a header.
"""

from __future__ import annotations

import re
from functools import lru_cache
from json.encoder import encode_basestring_ascii
from typing import Any, Iterable, Mapping, Union

from claude_proxy.secrets import is_secret_name, mask_secret

_SCHEME = re.compile(r"^(Bearer|Basic|Token|Bot)\s+(\S.*)$", re.I)
_KEYLIKE = re.compile(r"(?:sk|pk|rk)-[A-Za-z0-9_\-]{12,}|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-.]{8,}"
                      r"|(?<=Bearer )[A-Za-z0-9_\-.~+/=]{12,}", re.I)
_QUERY_PAIR = re.compile(r"([?&;])([^=&;#]+)=([^&;#]*)")
MIN_SCRUB_LEN = 8
# Names that read like secrets but are not: Claude Code's session id groups a session's rows.
NOT_SECRET = frozenset({"x-claude-code-session-id"})


def _secret_header(name: str) -> bool:
    return is_secret_name(name) and name.lower() not in NOT_SECRET


def _mask_value(value: str) -> tuple[str, list[str]]:
    scheme = _SCHEME.match(value)
    if scheme:
        return f"{scheme.group(1)} {mask_secret(scheme.group(2))}", [scheme.group(2), value]
    return mask_secret(value), [value]


def _may_hold_key(value: str) -> bool:
    """False only where `_KEYLIKE` cannot match, found at a fraction of the regex's cost.

    Every match is 12 characters or more and, in ASCII text (where ignoring case is
    plain lower-casing), holds ``k-`` or ``eyj`` or follows ``bearer ``.
    """
    if len(value) < 12:
        return False
    if not value.isascii():
        return True
    lowered = value.lower()
    return "k-" in lowered or "eyj" in lowered or "bearer " in lowered


def _masked(secret: bool, value: str) -> tuple[str, tuple[str, ...]]:
    """A header value masked, and the clear secrets in it; ``secret`` when its name says it is one."""
    if secret:
        masked, found = _mask_value(value)
        return masked, tuple(found)
    if not _may_hold_key(value):
        return value, ()
    found = _KEYLIKE.findall(value)
    for key in found:
        value = value.replace(key, mask_secret(key))
    return value, tuple(found)


def _masked_header(name: str, value: str) -> tuple[str, tuple[str, ...]]:
    """One header's masked value and the clear secrets in it."""
    return _masked(_secret_header(name), value)


_mask_header = lru_cache(maxsize=4096)(_masked_header)  # most headers repeat


def mask_headers(headers: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """A masked copy of ``headers`` and the clear secrets found, for scrubbing elsewhere.

    Names come back lower-cased (HTTP names are case-insensitive), so a log query
    finds ``x-api-key`` however the client spelled it.
    """
    masked: dict[str, str] = {}
    secrets: list[str] = []
    for name, value in headers.items():
        name = str(name).lower()
        masked[name], found = _mask_header(name, str(value))
        secrets.extend(found)
    return masked, [s for s in secrets if len(s) >= MIN_SCRUB_LEN]


# (name, value) as the proxy saw them -> (lower-cased name, the masked member's JSON text, secrets
# long enough to scrub, the name again if it is one of `_CONTENT`, whether the name is a str).
# A plain dict, emptied when full: cheaper per hit than an lru_cache, and most headers repeat from
# one exchange to the next. Only pairs of strs go in, so a hit is a pair of strs (1, 1.0 and True
# are equal keys that str() would tell apart).
_Member = tuple[str, str, tuple[str, ...], Union[str, None], bool]
_MEMBERS: dict[tuple[Any, Any], _Member] = {}
MEMBERS_CACHED = 4096
_CONTENT = frozenset({"content-encoding", "content-type"})


# A str name as sent -> (lower-cased, its JSON text and ": ", whether it names a secret, itself again
# if it is one of `_CONTENT`): a header whose value changes every time (request-id, date) still
# finds its name's part here.
_NAMES: dict[str, tuple[str, str, bool, Union[str, None]]] = {}


def _name(name: Any) -> tuple[str, str, bool, str | None]:
    known = _NAMES.get(name) if isinstance(name, str) else None
    if known is None:
        lowered = str(name).lower()
        known = (lowered, encode_basestring_ascii(lowered) + ": ", _secret_header(lowered),
                 lowered if lowered in _CONTENT else None)
        if isinstance(name, str):
            if len(_NAMES) >= MEMBERS_CACHED:
                _NAMES.clear()
            _NAMES[name] = known
    return known


def _member(name: Any, value: Any) -> _Member:
    lowered, prefix, secret, content = _name(name)
    masked, found = _masked(secret, str(value))
    if found:
        found = tuple([s for s in found if len(s) >= MIN_SCRUB_LEN])
    return lowered, prefix + encode_basestring_ascii(masked), found, content, isinstance(name, str)


def _missed(item: tuple[Any, Any]) -> _Member:
    hit = _member(*item)
    if type(item[1]) is str and isinstance(item[0], str):
        if len(_MEMBERS) >= MEMBERS_CACHED:
            _MEMBERS.clear()
        _MEMBERS[item] = hit
    return hit


def _members(headers: Mapping[str, str], content: dict[Any, Any] | None,
             cached: bool = True) -> tuple[str, list[str]]:
    """The masked dict's JSON text and its secrets; with ``content``, the first value of each
    `_CONTENT` name goes there as it was sent (and ``None`` under the key ``None`` when a name
    is not a str)."""
    members: dict[str, str] = {}
    secrets: list[str] = []
    get = _MEMBERS.get
    try:
        for item in headers.items():
            hit = (get(item) or _missed(item)) if cached else _member(*item)
            members[hit[0]] = hit[1]
            if hit[2]:
                secrets.extend(hit[2])
            if content is not None:
                if hit[3] is not None and hit[3] not in content:
                    content[hit[3]] = item[1]
                if not hit[4]:
                    content[None] = None
    except TypeError:
        if not cached:
            raise
        # An unhashable name or value: mask without the cache (which fails the same way if it must).
        if content is not None:
            content.clear()
        return _members(headers, content, cached=False)
    return "{" + ", ".join(members.values()) + "}", secrets


def mask_headers_json(headers: Mapping[str, str]) -> tuple[str, list[str]]:
    """``json.dumps`` of :func:`mask_headers`' dict, and its secrets: the same text, built from cached parts.

    Each header's masked ``"name": "value"`` text is computed once per distinct pair;
    a name spelled twice keeps its first place and its last value, as in the dict.
    """
    return _members(headers, None)


def mask_response_headers_json(headers: Mapping[str, str]) -> tuple[str, list[str], tuple[str, str] | None]:
    """:func:`mask_headers_json`, plus the first Content-Encoding and Content-Type values as sent
    (``""`` when absent), found on the same pass. None instead of those when a header name is
    not a str: the caller looks them up its own way, which decides what such a name means.
    """
    content: dict[Any, Any] = {}
    text, secrets = _members(headers, content)
    if None in content:
        return text, secrets, None
    return text, secrets, (str(content.get("content-encoding", "")), str(content.get("content-type", "")))


def mask_query(path: str) -> tuple[str, list[str]]:
    """``path?query`` with the values of secret-named parameters masked."""
    if "?" not in path:
        return path, []
    secrets: list[str] = []

    def repl(match: re.Match[str]) -> str:
        sep, name, value = match.groups()
        if value and is_secret_name(name):
            secrets.append(value)
            return f"{sep}{name}={mask_secret(value)}"
        return match.group(0)

    head, _, query = path.partition("?")
    masked = _QUERY_PAIR.sub(repl, "?" + query)
    return head + masked, [s for s in secrets if len(s) >= MIN_SCRUB_LEN]


def ordered_secrets(secrets: Iterable[str]) -> list[str]:
    """The distinct secrets, longest first: the order scrubbing replaces them in (a long
    secret that contains a shorter one is masked whole)."""
    return sorted(set(secrets), key=len, reverse=True)


def scrub_ordered(data: bytes, ordered: list[str]) -> bytes:
    """:func:`scrub` with the secrets already put in order by :func:`ordered_secrets`."""
    for secret in ordered:
        raw = secret.encode("utf-8", errors="ignore")
        # find(), not `in`: bytes.__contains__ first tries the operand as an int and pays for a TypeError.
        if raw and data.find(raw) != -1:
            data = data.replace(raw, mask_secret(secret).encode())
    return data


def scrub_text_ordered(text: str, ordered: list[str]) -> str:
    """:func:`scrub_text` with the secrets already put in order by :func:`ordered_secrets`."""
    for secret in ordered:
        if secret and secret in text:
            text = text.replace(secret, mask_secret(secret))
    return text


def scrub(data: bytes, secrets: Iterable[str]) -> bytes:
    """Replace every clear occurrence of the given secrets in a body with its masked form."""
    return scrub_ordered(data, ordered_secrets(secrets))


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    """The ``str`` twin of :func:`scrub`."""
    return scrub_text_ordered(text, ordered_secrets(secrets))
