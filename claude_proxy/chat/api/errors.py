"""The error types of the Messages API, named and shaped as the SDK names them (no httpx import here)."""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """Any failure of a Messages API call; ``url`` is where the request went."""

    def __init__(self, message: str, url: str, *, body: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.body = body


class APIStatusError(APIError):
    """The API answered with an error status, or sent an ``error`` event mid-stream (status 200)."""

    def __init__(self, message: str, url: str, *, status_code: int, body: object | None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message, url, body=body)
        self.status_code = status_code
        self.headers = headers or {}
        self.request_id = self.headers.get("request-id")


class BadRequestError(APIStatusError):
    pass


class AuthenticationError(APIStatusError):
    pass


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class ConflictError(APIStatusError):
    pass


class RequestTooLargeError(APIStatusError):
    pass


class UnprocessableEntityError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    pass


class InternalServerError(APIStatusError):
    pass


class ServiceUnavailableError(APIStatusError):
    pass


class OverloadedError(APIStatusError):
    pass


class APIConnectionError(APIError):
    """No answer: the connection failed (the cause is ``__cause__``)."""

    def __init__(self, url: str, message: str = "Connection error.") -> None:
        super().__init__(message, url)


class APITimeoutError(APIConnectionError):
    def __init__(self, url: str) -> None:
        super().__init__(url, "Request timed out.")


BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError, 401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError,
    409: ConflictError, 413: RequestTooLargeError, 422: UnprocessableEntityError, 429: RateLimitError,
    503: ServiceUnavailableError, 529: OverloadedError,
}
BY_TYPE: dict[str, int] = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
                           "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429,
                           "api_error": 500, "overloaded_error": 529}


def status_error(status: int, body: Any, url: str, headers: dict[str, str] | None = None) -> APIStatusError:
    """The SDK's exception for an error status, with its message ``Error code: N - body``."""
    cls = BY_STATUS.get(status) or (InternalServerError if status >= 500 else APIStatusError)
    return cls(f"Error code: {status} - {body}", url, status_code=status, body=body, headers=headers)


def stream_error(body: Any, url: str) -> APIStatusError:
    """An ``error`` event in a stream that began with 200: typed by its error type, as the SDK does."""
    kind = body.get("error", {}).get("type") if isinstance(body, dict) else None
    status = BY_TYPE.get(str(kind), 500)
    cls = BY_STATUS.get(status) or (InternalServerError if status >= 500 else APIStatusError)
    return cls(str(body), url, status_code=200, body=body)
