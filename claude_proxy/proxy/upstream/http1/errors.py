"""What can go wrong talking to the upstream, one exception per cause."""

from __future__ import annotations


class UpstreamError(Exception):
    """The upstream could not be reached or did not answer properly."""


class ConnectError(UpstreamError):
    """The TCP (or TLS) connection could not be made; ``os_error`` says why."""

    def __init__(self, os_error: OSError) -> None:
        super().__init__(str(os_error))
        self.os_error = os_error


class ConnectTimeout(UpstreamError):
    """No connection within the connect timeout."""


class CertificateError(UpstreamError):
    """The upstream's TLS certificate did not verify; ``reason`` is OpenSSL's."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ResponseTimeout(UpstreamError):
    """The request went out but no complete response head came back in time."""


class Disconnected(UpstreamError):
    """The upstream closed the connection before the response head."""


class BadResponse(UpstreamError):
    """The upstream's answer is not valid HTTP/1.1."""


class BodyError(UpstreamError):
    """The response body ended early or broke (the connection closed mid-body)."""
