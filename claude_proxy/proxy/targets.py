"""Request targets: only origin-form paths with no dot-segments reach any handler.

The forwarding code sends the client's raw target (prefixed with the upstream's
base path) with the proxy's own key, so a target that a server could resolve to
somewhere else must never pass: ``/v1/../x``, ``/v1/%2e%2e/x`` (percent-encoded,
once or twice), an encoded slash or backslash that a server may decode into a
separator, and the absolute-form (``GET http://host/v1/...``) or asterisk-form
targets that are only meant for forward proxies. Each is a 400
``invalid_request_error``, so nothing outside the base URL's prefix plus ``/v1/``
ever goes upstream.
"""

from __future__ import annotations

from typing import Awaitable, Callable
from urllib.parse import unquote

from aiohttp import web

from claude_proxy.proxy.errors import error_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_DOTS = frozenset({".", ".."})


def target_problem(target: str) -> str | None:
    """Why a raw request target is refused, or None when it is a plain origin-form path."""
    if not target.startswith("/") or target.startswith("//"):
        return "only origin-form request targets (a path starting with a single '/') are accepted"
    path = target.split("?", 1)[0].split("#", 1)[0]
    if "%" not in path and "\\" not in path and "/." not in path:
        return None  # nothing encoded, no backslash, no segment that starts with a dot: the usual case
    if "\\" in path:
        return "a backslash in the request path is not accepted"
    for segment in path.split("/"):
        once = unquote(segment)
        twice = unquote(once)
        for decoded in (segment, once, twice):
            if decoded in _DOTS:
                return "dot-segments ('.' or '..', raw or percent-encoded) are not accepted in the request path"
        if decoded_separator(once) or decoded_separator(twice):
            return "an encoded '/' or '\\' is not accepted in the request path"
    return None


def decoded_separator(segment: str) -> bool:
    return "/" in segment or "\\" in segment


@web.middleware
async def check_target(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outermost middleware: refuse a target before any other stage looks at it."""
    problem = target_problem(request.raw_path)
    if problem is not None:
        return error_response(400, f"{problem}: {request.raw_path[:200]!r}", "invalid_request_error")
    return await handler(request)
