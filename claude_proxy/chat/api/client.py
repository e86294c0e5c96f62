"""`MessagesClient`: ``messages.stream`` and ``messages.create`` with the SDK's headers and retries.

It runs on aiohttp (already the server's HTTP stack) rather than httpx: importing httpx here
also imports httpcore's trio support and httpx's command-line client (rich, pygments), about
twice aiohttp's import cost, and chat -p waits for it before its first request. Proxies from
the environment are honoured, as the SDK honours them.

Retries follow the SDK: up to ``max_retries`` more attempts for connection errors, timeouts
and statuses 408, 409, 429 and 5xx (``x-should-retry: true/false`` decides first); the wait
is ``retry-after-ms`` or ``retry-after`` when the server sends a positive one, otherwise
0.5 s doubled per retry, at most 8 s, less up to a quarter of jitter. A stream is retried
only before its first byte, as the SDK does. Each attempt carries
``x-stainless-retry-count``.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import platform
import random
import sys
import time
from typing import Any, AsyncIterator, Callable, Mapping

import aiohttp

from claude_proxy import __version__
from claude_proxy.chat.api.errors import APIConnectionError, APITimeoutError, status_error
from claude_proxy.chat.api.stream import MessageAccumulator, StreamEvent, sse_events

log = logging.getLogger(__name__)

ANTHROPIC_VERSION = "2026-10-21"  # the version the SDK this project pins sends
DEFAULT_BASE_URL = "https://api.anthropic.com"
INITIAL_RETRY_DELAY, MAX_RETRY_DELAY = 0.5, 8.0
RETRY_STATUSES = frozenset({408, 409, 429})
RetryHook = Callable[[int | None, float], None]  # (status or None for a connection error, delay in seconds)


def _arch() -> str:
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return "arm64"
    if machine in ("x86_64", "amd64"):
        return "x64"
    if machine == "arm":
        return "arm"
    if sys.maxsize <= 2**32:
        return "x32"
    return f"other:{machine}" if machine else "unknown"


def _os() -> str:
    system = platform.system()
    return {"Darwin": "MacOS", "Linux": "Linux", "Windows": "Windows", "FreeBSD": "FreeBSD",
            "OpenBSD": "OpenBSD"}.get(system, f"Other:{system.lower()}" if system else "Unknown")


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms``, then ``retry-after`` (seconds or a date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        return None if parsed is None else float(email.utils.mktime_tz(parsed) - time.time())


def retry_delay(retries_taken: int, headers: Mapping[str, str] | None) -> float:
    """The SDK's wait before the next attempt."""
    asked = retry_after(headers) if headers is not None else None
    if asked is not None and asked == asked and asked > 0:
        return min(asked, 4_294_967.0)
    delay = min(INITIAL_RETRY_DELAY * 2.0 ** min(retries_taken, 1000), MAX_RETRY_DELAY)
    return max(0.0, delay * (1 - 0.25 * random.random()))


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """The SDK's rule: ``x-should-retry`` first, then 408, 409, 429 and 5xx."""
    verdict = headers.get("x-should-retry")
    if verdict in ("true", "false"):
        return verdict == "true"
    return status in RETRY_STATUSES or status >= 500


class MessagesClient:
    """What chat uses of ``AsyncAnthropic``: ``client.messages.stream/create`` and ``close``."""

    def __init__(self, *, api_key: str | None = None, auth_token: str | None = None, base_url: str | None = None,
                 max_retries: int = 2, timeout: float = 600.0, betas: list[str] | None = None,
                 on_retry: RetryHook | None = None) -> None:
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.max_retries = max_retries
        self.timeout = timeout
        self.on_retry = on_retry
        self.headers = {
            "accept": "application/json", "content-type": "application/json",
            "user-agent": f"ClaudeProxyChat/Python {__version__}",
            "x-stainless-lang": "python", "x-stainless-package-version": __version__,
            "x-stainless-os": _os(), "x-stainless-arch": _arch(),
            "x-stainless-runtime": platform.python_implementation(),
            "x-stainless-runtime-version": platform.python_version(),
            "x-stainless-async": "async:asyncio", "anthropic-version": ANTHROPIC_VERSION,
        }
        secret = api_key or auth_token
        if secret:
            self.headers["authorization"] = f"Bearer {secret}"
        if betas:
            self.headers["anthropic-beta"] = ",".join(betas)
        self._http: aiohttp.ClientSession | None = None
        self.messages = Messages(self)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    def _session(self) -> aiohttp.ClientSession:
        """Made on first use, inside the running event loop, as aiohttp wants."""
        if self._http is None:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=self.timeout)
            self._http = aiohttp.ClientSession(timeout=timeout, trust_env=True)
        return self._http

    async def send(self, body: dict[str, Any], extra: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        """POST /v1/messages with retries; the response is open (streamed) and has a success status."""
        url = f"{self.base_url}/v1/messages"
        content = json.dumps(body).encode()
        retries_taken = 0
        while True:
            remaining = self.max_retries - retries_taken
            # "NOT_GIVEN" is what the SDK sends when the call sets no timeout of its own
            headers = {"x-stainless-timeout": "NOT_GIVEN", "x-stainless-retry-count": str(retries_taken),
                       "x-stainless-read-timeout": str(self.timeout), **self.headers, **(extra or {})}
            try:
                response = await self._session().post(url, data=content, headers=headers, allow_redirects=False)
            except asyncio.TimeoutError as exc:
                if remaining <= 0:
                    raise APITimeoutError(url) from exc
                await self._wait(retries_taken, None, None)
            except (aiohttp.ClientError, OSError) as exc:
                if remaining <= 0:
                    raise APIConnectionError(url) from exc
                log.debug("connection error, retrying: %s", exc)
                await self._wait(retries_taken, None, None)
            else:
                if 200 <= response.status < 300:
                    return response
                if remaining > 0 and should_retry(response.status, response.headers):
                    response.release()
                    await self._wait(retries_taken, response.status, response.headers)
                else:
                    raise await self._status_error(response, url)
            retries_taken += 1

    async def _wait(self, retries_taken: int, status: int | None, headers: Mapping[str, str] | None) -> None:
        delay = retry_delay(retries_taken, headers)
        if self.on_retry is not None:
            self.on_retry(status, delay)
        await asyncio.sleep(delay)

    @staticmethod
    async def _status_error(response: aiohttp.ClientResponse, url: str) -> Exception:
        try:
            raw = await response.read()
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
            raw = b""
        finally:
            response.release()
        text = raw.decode("utf-8", "replace")
        try:
            body: Any = json.loads(text) if text else None
        except json.JSONDecodeError:
            body = text
        return status_error(response.status, body, url, dict(response.headers))


class Messages:
    """``client.messages``: the two calls chat makes."""

    def __init__(self, client: MessagesClient) -> None:
        self._client = client

    def stream(self, **params: Any) -> "MessageStream":
        """``async with client.messages.stream(...) as stream``: iterate events, then ``get_final_message``."""
        return MessageStream(self._client, {**params, "stream": True})

    async def create(self, **params: Any) -> dict[str, Any]:
        """A non-streamed reply, as a dict."""
        response = await self._client.send(params)
        try:
            raw = await response.read()
        except asyncio.TimeoutError as exc:
            raise APITimeoutError(str(response.url)) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise APIConnectionError(str(response.url)) from exc
        finally:
            response.release()
        result: dict[str, Any] = json.loads(raw)
        return result


class MessageStream:
    """One streamed reply; events come once, the final message after the last one."""

    def __init__(self, client: MessagesClient, body: dict[str, Any]) -> None:
        self._client = client
        self._body = body
        self._response: aiohttp.ClientResponse | None = None
        self._events: AsyncIterator[StreamEvent] | None = None
        self._accumulator: MessageAccumulator | None = None

    async def __aenter__(self) -> "MessageStream":
        self._response = await self._client.send(
            self._body, {"x-stainless-helper-method": "stream", "x-stainless-stream-helper": "messages"})
        self._accumulator = MessageAccumulator(str(self._response.url))
        self._events = self._read()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._response is not None:
            self._response.close()

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        assert self._events is not None, "use the stream inside `async with`"
        return self._events

    async def _read(self) -> AsyncIterator[StreamEvent]:
        assert self._response is not None and self._accumulator is not None
        try:
            async for event, data in sse_events(_lines(self._response.content)):
                for item in self._accumulator.feed(event, data):
                    yield item
        except asyncio.TimeoutError as exc:
            raise APITimeoutError(self._accumulator.url) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise APIConnectionError(self._accumulator.url) from exc

    async def get_final_message(self) -> dict[str, Any]:
        """Read what is left of the stream; the assembled message."""
        assert self._events is not None and self._accumulator is not None
        async for _ in self._events:
            pass
        return self._accumulator.final_message()


async def _lines(body: aiohttp.StreamReader) -> AsyncIterator[str]:
    """The body's lines without their ends, however long (aiohttp's own readline has a size limit)."""
    pending = b""
    async for chunk in body.iter_any():
        pending += chunk
        if b"\n" not in chunk:
            continue
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r").decode("utf-8", "replace")
    if pending:
        yield pending.rstrip(b"\r").decode("utf-8", "replace")
