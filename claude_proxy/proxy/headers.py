"""Which headers cross the proxy, in each direction.

End-to-end headers pass both ways untouched; hop-by-hop headers (RFC 9110 §7.6.1,
plus any named in ``Connection``) describe one connection and are dropped. ``host``
and ``content-length`` are left to the HTTP client, which computes them for the
bytes it actually sends, so a rewritten body never carries a stale length.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping

from multidict import CIMultiDict, CIMultiDictProxy

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade",
})
# Never forwarded upstream: the client computes host/content-length; expect is per-connection;
# the body the server read is already decoded (a gzip or deflate body arrives decompressed), so
# what goes upstream carries no content-encoding.
_REQUEST_ONLY_DROP = frozenset({"host", "content-length", "expect", "content-encoding"})
# Per-connection on the way back: the server computes content-length from what it writes.
_RESPONSE_ONLY_DROP = frozenset({"content-length"})

# Everything never forwarded in each direction, merged once rather than per request.
_REQUEST_DROP = HOP_BY_HOP | _REQUEST_ONLY_DROP
_RESPONSE_DROP = HOP_BY_HOP | _RESPONSE_ONLY_DROP

HOP_HEADER = "x-claude-proxy-hop"
ID_HEADER = "x-claude-proxy-id"
ROUTE_HEADER = "x-claude-proxy-route"  # backend/model that answered a routed request


def _connection_listed(headers: Mapping[str, str]) -> frozenset[str]:
    """Header names listed in ``Connection``: hop-by-hop for this message only."""
    value = headers.get("connection")
    return _listed_names(value) if value else frozenset()


@lru_cache(maxsize=256)
def _listed_names(value: str) -> frozenset[str]:
    """Parsed once per distinct value (almost always ``keep-alive``)."""
    return frozenset(name.strip().lower() for name in value.split(",") if name.strip())


def _filtered(headers: CIMultiDictProxy[str] | CIMultiDict[str], drop: frozenset[str]) -> CIMultiDict[str]:
    listed = _connection_listed(headers)
    dropped = drop | listed if listed else drop
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in dropped or lowered.startswith("proxy-"):
            continue
        out.add(name, value)
    return out


def upstream_request_headers(incoming: CIMultiDictProxy[str], *, api_key: str | None,
                             hop_token: str) -> CIMultiDict[str]:
    """Headers to send upstream: end-to-end ones, our hop marker, and a key if the client sent none."""
    out = _filtered(incoming, _REQUEST_DROP)
    if api_key and "x-api-key" not in out and "authorization" not in out:
        out["x-api-key"] = api_key
    previous = out.get(HOP_HEADER)
    out[HOP_HEADER] = f"{previous}, {hop_token}" if previous else hop_token
    return out


def client_response_headers(upstream: CIMultiDict[str] | CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """Headers to send back to the client: everything end-to-end the upstream said."""
    return _filtered(upstream, _RESPONSE_DROP)


def seen_hops(incoming: Mapping[str, str]) -> list[str]:
    """The proxy tokens this request has already passed through."""
    value = incoming.get(HOP_HEADER, "")
    return [token.strip() for token in value.split(",") if token.strip()]
