"""Serving Anthropic requests from an OpenAI-compatible backend: the HTTP side of translation.

``OpenAIRelay.messages`` sends the translated request to ``{base_url}/chat/completions``
with the backend's key and headers and answers in Anthropic's shape. Before the first
byte to the client, failures are Anthropic JSON errors with a mapped status (the
response is prepared lazily, on the first translated bytes or the first keep-alive);
after it, one ``event: error`` frame ends the stream. When the proxy ends an answer
itself (a stop sequence past the backend's limit matched), the backend's request is
cancelled by closing its connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from aiohttp import web

from claude_proxy import __version__
from claude_proxy.proxy.errors import ProxyError, error_body, error_response
from claude_proxy.proxy.exchange import Exchange
from claude_proxy.proxy.headers import ROUTE_HEADER
from claude_proxy.proxy.translate import jsonio
from claude_proxy.proxy.translate.errors import in_band_error, in_band_message, in_band_status, upstream_error
from claude_proxy.proxy.translate.names import ToolNames
from claude_proxy.proxy.translate.replay import message_events
from claude_proxy.proxy.translate.request import TranslateOptions, to_chat_request
from claude_proxy.proxy.translate.response import to_anthropic_message
from claude_proxy.proxy.translate.sse import PING
from claude_proxy.proxy.translate.stream import StreamTranslator
from claude_proxy.proxy.translate.tokens import estimate_input_tokens
from claude_proxy.proxy.upstream import http1
from claude_proxy.proxy.upstream.client import Upstream
from claude_proxy.requestlog.capture import BodyCapture
from claude_proxy.secrets import is_secret_name, mask_secret

if TYPE_CHECKING:
    from claude_proxy.proxy.routing.routes import Route
    from claude_proxy.requestlog.entry import LogEntry
    from claude_proxy.settings import BackendSettings

log = logging.getLogger(__name__)

USER_AGENT = f"claude-proxy/{__version__}"


# Where chat completions live, under a backend's ``base_url`` (which ends at ``/v1`` or similar).
COMPLETIONS_PATH = "/chat/completions"


def masked(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with credentials masked (last 4 characters kept), for the log."""
    return {k: mask_secret(v) if is_secret_name(k) else v for k, v in headers.items()}


def backend_headers(backend: "BackendSettings", stream: bool) -> dict[str, str]:
    """The headers sent to the provider: never the client's own credentials."""
    headers = {"content-type": "application/json", "accept-encoding": "identity", "user-agent": USER_AGENT,
               "accept": "text/event-stream" if stream else "application/json"}
    if backend.api_key:
        headers["authorization"] = f"Bearer {backend.api_key}"
    headers.update(backend.headers)
    return headers


def embedded_error(payload: Any, raw: bytes, backend: str) -> ProxyError:
    """A 200 answer that carries an error instead of (or beside) a completion (OpenRouter does this)."""
    error = in_band_error(payload)
    if error is None:
        return ProxyError(502, f"{backend} answered without a completion: {raw[:200]!r}")
    return upstream_error(in_band_status(error), json.dumps({"error": error}).encode(), {}, backend)


def provider_error_note(error: dict[str, Any], backend: str) -> str:
    """The log's record of an in-band provider error: the whole object, as the provider sent it."""
    return f"{backend} sent an error: {in_band_message(error)} (provider error: {jsonio.dumps_text(error)})"


@dataclass(frozen=True)
class Expected:
    """What reading the answer back needs to know about the request."""

    model: str
    estimate: int
    names: ToolNames
    stops: tuple[str, ...]


# What a request of the wrong shape makes the translators raise.
MALFORMED = (KeyError, TypeError, AttributeError, ValueError)


def malformed(exc: Exception) -> ProxyError:
    """A 400 for a request the translators cannot read (Anthropic would refuse it too)."""
    detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
    return ProxyError(400, f"cannot translate this request for an OpenAI-compatible backend: {detail}")


def count_tokens_response(body: dict[str, Any], route_label: str) -> web.Response:
    """``count_tokens`` answered locally with the high-side estimate (providers cannot count)."""
    headers = {ROUTE_HEADER: route_label}
    try:
        tokens = estimate_input_tokens(body)
    except MALFORMED as exc:
        error = malformed(exc)
        return error_response(error.status, error.message, error.error_type, headers)
    return web.json_response({"input_tokens": tokens}, headers=headers)


class OpenAIRelay:
    """Answers from OpenAI-compatible backends, each through its `Upstream` (built by routing)."""

    def __init__(self, upstreams: Mapping[str, Upstream], *, log_cap: int) -> None:
        self._upstreams = upstreams
        self.log_cap = log_cap

    async def messages(self, request: web.Request, body: dict[str, Any], route: Route, exchange: Exchange, *,
                       headers: Mapping[str, str] | None = None) -> web.StreamResponse:
        """Answer one ``POST /v1/messages`` from ``route``'s OpenAI-compatible backend.

        The exchange's entry gets the route, status, timings and the answer (head and
        tail past the log's cap).
        """
        entry = exchange.entry
        backend = route.backend
        if backend is None or backend.kind != "openai":
            raise ValueError(f"route {route.name!r} does not lead to an openai backend")
        requested = body.get("model")
        model = route.upstream_model(requested) or ""
        label = route.label(requested)
        extra = {ROUTE_HEADER: label, **(headers or {})}
        entry.route = label
        entry.upstream_model = model
        stream = bool(body.get("stream"))
        entry.stream = stream
        try:
            options = TranslateOptions.from_backend(backend)
            names = ToolNames.from_request(body)
            payload = jsonio.dumps(to_chat_request(body, model, options, names))
            expected = Expected(model, estimate_input_tokens(body), names, options.proxy_stop_sequences(body))
        except MALFORMED as exc:
            return self._fail(entry, malformed(exc), extra)
        sent = backend_headers(backend, stream)
        try:
            upstream = await self._upstreams[route.backend_name].send("POST", COMPLETIONS_PATH, sent, payload)
        except ProxyError as exc:
            return self._fail(entry, exc, extra)
        entry.request_headers = masked(sent)
        entry.response_headers = dict(upstream.headers)
        try:
            if upstream.status >= 300:
                raw = await self._read_all(upstream)
                error = upstream_error(upstream.status, raw, upstream.headers, route.backend_name)
                return self._fail(entry, error, extra)
            if "request-id" not in extra and upstream.headers.get("x-request-id"):
                extra["request-id"] = upstream.headers["x-request-id"]
            as_json = upstream.headers.get("content-type", "").startswith("application/json")
            if stream and not as_json:
                return await self._stream(request, upstream, route, backend, expected, exchange, extra)
            return await self._json(upstream, route, expected, exchange, extra, as_stream=stream)
        finally:
            upstream.release()

    async def _read_all(self, upstream: http1.Response) -> bytes:
        """The body (each read waits at most the backend's timeout), or nothing when it breaks."""
        try:
            return await upstream.read()
        except (asyncio.TimeoutError, http1.UpstreamError):
            return b""

    async def _json(self, upstream: http1.Response, route: Route, expected: Expected, exchange: Exchange,
                    extra: dict[str, str], *, as_stream: bool = False) -> web.StreamResponse:
        """A whole completion; sent as a stream when the client asked for one and the provider ignored it."""
        entry = exchange.entry
        try:
            raw = await upstream.read()
        except asyncio.TimeoutError:
            return self._fail(entry, ProxyError(504, f"{route.backend_name} stopped sending its answer"), extra)
        except http1.UpstreamError as exc:
            return self._fail(entry, ProxyError(502, f"{route.backend_name} broke off its answer: {exc}"), extra)
        try:
            completion = jsonio.loads(raw)
        except ValueError:
            error = ProxyError(502, f"{route.backend_name} answered with something that is not JSON")
            return self._fail(entry, error, extra)
        provider_error = in_band_error(completion)
        if not isinstance(completion, dict) or "choices" not in completion or provider_error is not None:
            failure = self._fail(entry, embedded_error(completion, raw, route.backend_name), extra)
            if provider_error is not None:
                entry.error = provider_error_note(provider_error, route.backend_name)
            return failure
        message = to_anthropic_message(completion, expected.model, expected.estimate, names=expected.names,
                                       stop_sequences=expected.stops)
        if as_stream:
            body = message_events(message)
            kind = "text/event-stream"
        else:
            body = jsonio.dumps(message)
            kind = "application/json"
        entry.status = 200
        entry.response_body = body
        exchange.first_byte()
        return web.Response(status=200, body=body, content_type=kind, headers=extra)

    async def _stream(self, request: web.Request, upstream: http1.Response, route: Route,
                      backend: BackendSettings, expected: Expected, exchange: Exchange,
                      extra: dict[str, str]) -> web.StreamResponse:
        translator = StreamTranslator(expected.model, input_estimate=expected.estimate, names=expected.names,
                                      stop_sequences=expected.stops)
        response: web.StreamResponse | None = None
        entry = exchange.entry
        capture = BodyCapture(self.log_cap, exchange.started)

        async def send(data: bytes) -> None:
            nonlocal response
            if response is None:
                response = web.StreamResponse(status=200, headers={
                    "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", **extra})
                await response.prepare(request)
                entry.status = 200
                exchange.first_byte()
            capture.add(data)
            await response.write(data)

        read: asyncio.Future[bytes] | None = None
        silent = 0.0
        try:
            while not translator.done:
                if read is None:
                    read = asyncio.ensure_future(upstream.content.readany())
                done, _ = await asyncio.wait({read}, timeout=backend.ping_interval)
                if not done:
                    silent += backend.ping_interval
                    if silent >= backend.timeout:
                        raise asyncio.TimeoutError
                    await send(translator.start() + PING)
                    continue
                silent = 0.0
                chunk = read.result()
                read = None
                if not chunk and not translator.received:
                    raise http1.BodyError("the stream ended before any event")
                out = translator.feed(chunk) if chunk else translator.finish()
                if translator.error_status is not None and response is None:
                    error = upstream_error(translator.error_status, json.dumps(
                        {"error": translator.provider_error}).encode(), {}, route.backend_name)
                    failure = self._fail(entry, error, extra)
                    if translator.provider_error is not None:
                        entry.error = provider_error_note(translator.provider_error, route.backend_name)
                    return failure
                if translator.stop_sequence is not None:
                    upstream.close()  # the answer is complete for the client: the backend stops generating
                if out:
                    await send(out)
                if not chunk:
                    break
        except ConnectionResetError:
            log.info("client went away during a stream from %s", route.backend_name)
            entry.status = 499
            entry.error = "client closed the connection"
        except (http1.UpstreamError, asyncio.TimeoutError) as exc:
            reason = "went silent" if isinstance(exc, asyncio.TimeoutError) else f"broke off the stream ({exc})"
            message = f"{route.backend_name} {reason}"
            if response is None:
                status = 504 if isinstance(exc, asyncio.TimeoutError) else 502
                return self._fail(entry, ProxyError(status, message), extra)
            entry.error = message
            try:
                kind = "timeout_error" if isinstance(exc, asyncio.TimeoutError) else "api_error"
                await send(translator.fail(message, kind))
            except ConnectionResetError:
                pass
            if response is not None:
                response.force_close()
        except Exception:  # a bug after the stream started: end it in Anthropic's shape, not mid-frame
            if response is None:
                raise
            log.exception("translating the stream from %s failed", route.backend_name)
            entry.error = "internal proxy error while translating the stream"
            try:
                await send(translator.fail("internal proxy error while translating the stream"))
            except ConnectionResetError:
                pass
            response.force_close()
        finally:
            if read is not None and not read.done():
                read.cancel()
            capture.fill(entry)
        if translator.provider_error is not None and not entry.error:
            entry.error = provider_error_note(translator.provider_error, route.backend_name)
        elif translator.failed and not entry.error:
            entry.error = translator.failed
        if response is None:
            return self._fail(entry, ProxyError(502, f"{route.backend_name} sent nothing"), extra)
        try:
            await response.write_eof()
        except ConnectionResetError:
            pass
        return response

    @staticmethod
    def _fail(entry: LogEntry, error: ProxyError, extra: Mapping[str, str]) -> web.Response:
        entry.status = error.status
        entry.error = error.message
        entry.response_body = error_body(error.error_type, error.message)
        log.warning("%s", error.message)
        return error_response(error.status, error.message, error.error_type, {**extra, **error.headers})
