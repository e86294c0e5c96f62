"""Provider errors in Anthropic's shape, so Anthropic SDKs raise their usual exception types."""

from __future__ import annotations

import json
from typing import Mapping

from claude_proxy.proxy.errors import ProxyError

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}

KEPT_HEADERS = ("retry-after", "retry-after-ms", "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")


def error_type(status: int) -> str:
    """Anthropic's error type for an upstream HTTP status."""
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    if status >= 500:
        return "api_error"
    return "invalid_request_error"


def error_message(body: bytes) -> str:
    """The human part of a provider error body (OpenAI shape, a bare string, or raw text)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:500] or "no error body"
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or error.get("msg")
            if message:
                return str(message)
        elif isinstance(error, str):
            return error
        if data.get("detail"):
            return str(data["detail"])
    return text[:500]


def upstream_error(status: int, body: bytes, headers: Mapping[str, str], backend: str) -> ProxyError:
    """A ProxyError for a non-2xx provider answer, with ``retry-after`` and friends kept."""
    kept = {name: headers[name] for name in KEPT_HEADERS if name in headers}
    message = f"{backend} answered {status}: {error_message(body)}"
    if status < 400 or status > 599:
        status = 502
    return ProxyError(status, message, error_type(status), kept)
