"""The upstream client: one keep-alive pool that sends a request until its headers arrive.

This is the one seam between the proxy and every backend (the pass-through upstream,
``anthropic`` backends, OpenAI-compatible backends), and so the one place transport
failures become errors: `Upstream.send` either returns an `http1.Response` whose body
has not been read yet, or raises a `ProxyError` (502 unreachable, 504 timed out, 400 a
request HTTP/1.1 cannot carry) that names the backend and host and says why. Bytes
cross untouched: no decompression, no auto-added headers, no cookies, no redirects.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
from typing import Mapping

from yarl import URL

from claude_proxy.proxy.errors import ProxyError
from claude_proxy.proxy.upstream import http1

log = logging.getLogger(__name__)

_ERRNO = re.compile(r"\[Errno (\d+)\]")


class NotSent(ProxyError):
    """No connection could be opened: the request never left, so trying again cannot repeat it."""


class Upstream:
    """One upstream base URL and the shared keep-alive connection pool to it."""

    def __init__(self, base_url: str, *, connect_timeout: float, read_timeout: float,
                 pool_size: int, name: str = "upstream") -> None:
        parsed = URL(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"upstream URL must be http(s)://host[:port][/prefix], got {base_url!r}")
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.url = parsed
        self.host = parsed.host
        self.port = parsed.port
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.pool_size = pool_size
        self._prefix = parsed.raw_path.rstrip("/")
        self._pool: http1.ConnectionPool | None = None

    @property
    def display(self) -> str:
        """``name host:port`` for messages (the name is ``upstream`` or the backend's)."""
        return f"{self.name} {self.host}:{self.port}"

    async def start(self) -> None:
        """Open the pool; must run on the serving event loop."""
        self._pool = http1.ConnectionPool(self.url, connect_timeout=self.connect_timeout,
                                          read_timeout=self.read_timeout, limit=self.pool_size,
                                          tls=ssl.create_default_context())

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def send(self, method: str, path_qs: str, headers: Mapping[str, str],
                   body: bytes) -> http1.Response:
        """Send one request and wait for the response headers; the caller reads and releases it."""
        if self._pool is None:
            raise RuntimeError("Upstream.start() was not called")
        try:
            return await self._pool.request(method, self._prefix + path_qs, headers.items(), body)
        except http1.ConnectTimeout:
            raise NotSent(504, f"{self.display} did not accept a connection within "
                                  f"{self.connect_timeout:g}s") from None
        except http1.ResponseTimeout:
            raise ProxyError(504, f"{self.display} sent no response within "
                                  f"{self.read_timeout:g}s") from None
        except http1.CertificateError as exc:
            raise ProxyError(502, f"{self.display}: TLS certificate verification failed "
                                  f"({exc.reason})") from None
        except http1.ConnectError as exc:
            raise NotSent(502, f"cannot reach {self.display}: {describe_os_error(exc.os_error)}") from None
        except http1.UpstreamError as exc:
            raise ProxyError(502, f"{self.display} {exc}") from None
        except ValueError as exc:  # a line break in a header: nothing an HTTP/1.1 request can carry
            raise ProxyError(400, f"cannot forward the request: {exc}") from None


def describe_os_error(os_error: OSError) -> str:
    """The human part of a connect failure: 'connection refused', 'name not resolved', ..."""
    code = getattr(os_error, "errno", None)
    if code is None:  # "Multiple exceptions: [Errno 111] ..., [Errno 111] ...": every address of the name failed
        codes = set(_ERRNO.findall(str(os_error)))
        code = int(codes.pop()) if len(codes) == 1 else None
    if isinstance(code, int) and code > 0:
        reason = os.strerror(code)
    else:
        reason = getattr(os_error, "strerror", None) or str(os_error) or type(os_error).__name__
    return reason[0].lower() + reason[1:] if reason else "connection failed"
