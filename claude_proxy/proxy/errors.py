"""Errors the proxy itself makes, in Anthropic's shape, so every client parses them.

``{"type": "error", "error": {"type": "...", "message": "..."}}`` with the matching
HTTP status before the first byte, or one ``event: error`` SSE frame after it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from aiohttp import web

STATUS_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    499: "api_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    508: "api_error",
    529: "overloaded_error",
}


class ProxyError(Exception):
    """A failure the proxy answers itself; caught at the HTTP handler edge."""

    def __init__(self, status: int, message: str, error_type: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type or STATUS_TYPES.get(status, "api_error")
        self.headers = dict(headers or {})


def error_body(error_type: str, message: str) -> bytes:
    """The JSON body of an Anthropic error."""
    return json.dumps({"type": "error", "error": {"type": error_type, "message": message}}).encode()


def error_event(error_type: str, message: str) -> bytes:
    """One SSE ``error`` frame, for failures after the stream has started."""
    payload = json.dumps({"type": "error", "error": {"type": error_type, "message": message}})
    return f"event: error\ndata: {payload}\n\n".encode()


def error_response(status: int, message: str, error_type: str | None = None,
                   headers: Mapping[str, str] | None = None) -> web.Response:
    """An aiohttp response carrying an Anthropic-shaped error."""
    from aiohttp import web

    return web.Response(
        status=status,
        body=error_body(error_type or STATUS_TYPES.get(status, "api_error"), message),
        content_type="application/json",
        headers=headers,
    )

