"""Provider errors in Anthropic's shape, so Anthropic SDKs raise their usual exception types."""

from __future__ import annotations

import json
from typing import Any, Mapping

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

# Codes and types providers put in an error object inside a 200 answer, as the status they stand for.
IN_BAND_CODES: dict[str, int] = {
    "invalid_request_error": 400, "context_length_exceeded": 400, "bad_request": 400,
    "authentication_error": 401, "invalid_api_key": 401, "permission_error": 403,
    "not_found_error": 404, "model_not_found": 404, "timeout": 408, "timeout_error": 408,
    "rate_limit_exceeded": 429, "rate_limit_error": 429, "insufficient_quota": 429,
    "server_error": 500, "internal_error": 500, "api_error": 500,
    "overloaded": 529, "overloaded_error": 529,
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


def in_band_error(payload: Any) -> dict[str, Any] | None:
    """The error a chat-completions body or chunk carries instead of (or beside) its choices.

    An ``error`` member (OpenRouter puts it next to ``choices``), or a choice that ended
    with ``finish_reason: "error"``; None for an ordinary body.
    """
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if isinstance(error, dict) and error:
        return error
    if isinstance(error, str) and error:
        return {"message": error}
    choices = payload.get("choices")
    for choice in choices if isinstance(choices, list) else []:
        if isinstance(choice, dict) and choice.get("finish_reason") == "error":
            return {"message": 'the provider ended the answer with finish_reason "error"'}
    return None


def in_band_status(error: dict[str, Any]) -> int:
    """The HTTP status an in-band error stands for: its numeric code, a known code or type, else 502."""
    for key in ("code", "status", "type"):
        value = error.get(key)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599:
            return value
        if isinstance(value, str) and value.lower() in IN_BAND_CODES:
            return IN_BAND_CODES[value.lower()]
    return 502


def in_band_message(error: dict[str, Any]) -> str:
    """The human part of an in-band error."""
    message = error.get("message") or error.get("detail")
    return str(message) if message else json.dumps(error, ensure_ascii=False)[:500]
