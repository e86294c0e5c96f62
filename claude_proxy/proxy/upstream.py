"""The upstream client: one pooled session that sends a request until its headers arrive.

This is the seam for retries, fallbacks and routing: `Upstream.send` either returns
an `aiohttp.ClientResponse` whose body has not been read yet, or raises a
`ProxyError` (502 unreachable, 504 timed out) that says which host failed and why.
Bytes cross untouched: no decompression, no auto-added headers, no cookies, no
redirects followed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from typing import Mapping

import aiohttp
from yarl import URL

from claude_proxy.proxy.errors import ProxyError

log = logging.getLogger(__name__)

# aiohttp adds these when the caller did not; a pass-through must not.
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


class Upstream:
    """One upstream base URL and the shared keep-alive connection pool to it."""

    def __init__(self, base_url: str, *, connect_timeout: float, read_timeout: float,
                 pool_size: int) -> None:
        parsed = URL(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"upstream URL must be http(s)://host[:port][/prefix], got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.url = parsed
        self.host = parsed.host
        self.port = parsed.port
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    @property
    def display(self) -> str:
        """``host:port`` for messages."""
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        """Open the pool; must run on the serving event loop."""
        connector = aiohttp.TCPConnector(limit=self.pool_size, limit_per_host=0, ttl_dns_cache=300,
                                         ssl=ssl.create_default_context())
        timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=self.connect_timeout,
                                        sock_read=self.read_timeout)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False,
            skip_auto_headers=_NO_AUTO_HEADERS, cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False, raise_for_status=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, method: str, path_qs: str, headers: Mapping[str, str],
                   body: bytes) -> aiohttp.ClientResponse:
        """Send one request and wait for the response headers; the caller reads and releases it."""
        if self._session is None:
            raise RuntimeError("Upstream.start() was not called")
        url = URL(self.base_url + path_qs, encoded=True)
        try:
            return await self._session.request(
                method, url, headers=headers, data=body or None, allow_redirects=False,
                compress=None, chunked=None,
            )
        except aiohttp.ConnectionTimeoutError:
            raise ProxyError(504, f"upstream {self.display} did not accept a connection within "
                                  f"{self.connect_timeout:g}s") from None
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError):
            raise ProxyError(504, f"upstream {self.display} sent no response within "
                                  f"{self.read_timeout:g}s") from None
        except aiohttp.ClientConnectorCertificateError as exc:
            raise ProxyError(502, f"upstream {self.display}: TLS certificate verification failed "
                                  f"({exc.certificate_error})") from None
        except aiohttp.ClientConnectorError as exc:
            raise ProxyError(502, f"cannot reach upstream {self.display}: {describe_os_error(exc)}") from None
        except aiohttp.ServerDisconnectedError:
            raise ProxyError(502, f"upstream {self.display} closed the connection before "
                                  "answering") from None
        except aiohttp.ClientError as exc:
            raise ProxyError(502, f"upstream {self.display} failed: {type(exc).__name__}: {exc}") from None


def describe_os_error(exc: aiohttp.ClientConnectorError) -> str:
    """The human part of a connect failure: 'connection refused', 'name not resolved', ..."""
    os_error = exc.os_error
    code = getattr(os_error, "errno", None)
    if isinstance(code, int) and code > 0:
        reason = os.strerror(code)
    else:
        reason = getattr(os_error, "strerror", None) or str(os_error) or type(os_error).__name__
    return reason[0].lower() + reason[1:] if reason else "connection failed"
