"""Relay an upstream response to the client: same status, same bytes, as they arrive.

No buffering and no re-framing: each chunk the upstream socket yields is written to
the client at once (a small non-streamed body of known length goes in one write).
A copy of at most ``log_cap`` bytes is kept for the request log.
If the upstream dies mid-stream, an SSE client gets one ``event: error`` frame
(after a terminator if the stream stopped mid-event) and the response ends; any other
body is cut by closing the connection, so a partial body never looks complete.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Mapping

from aiohttp import web

from claude_proxy.proxy.errors import ProxyError, error_event
from claude_proxy.proxy.exchange import Exchange
from claude_proxy.proxy.headers import ID_HEADER, client_response_headers
from claude_proxy.proxy.upstream import http1
from claude_proxy.requestlog.capture import BodyCapture
from claude_proxy.requestlog.entry import LogEntry

log = logging.getLogger(__name__)

# The log status of an exchange the client walked away from (nginx's "client closed request").
CLIENT_CLOSED = 499

# Non-streamed bodies up to this size with a Content-Length are relayed whole, in one write.
WHOLE_BODY_MAX = 64 * 1024
# What reading the upstream body can raise when the upstream fails mid-body.
UPSTREAM_READ_ERRORS = (http1.BodyError, asyncio.TimeoutError)


def frame_terminator(last_bytes: bytes) -> bytes:
    """Bytes that end a possibly unfinished SSE event, given the last bytes sent."""
    if not last_bytes or last_bytes.endswith((b"\n\n", b"\r\n\r\n", b"\r\r")):
        return b""
    if last_bytes.endswith((b"\n", b"\r")):
        return b"\n"
    return b"\n\n"


def _describe_read_failure(exc: BaseException, host: str) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return f"upstream {host} stopped sending in the middle of the response (read timed out)"
    return f"upstream {host} {exc}"


async def relay(request: web.Request, upstream: http1.Response, exchange: Exchange,
                log_cap: int, extra_headers: Mapping[str, str] | None = None) -> web.StreamResponse:
    """Stream ``upstream`` to the client; fills the entry's status, timings and body copy.

    ``extra_headers`` are the proxy's own (e.g. ``x-claude-proxy-route``), added to the upstream's.
    """
    entry = exchange.entry
    entry.status = upstream.status
    content_type = upstream.headers.get("Content-Type", "")
    entry.stream = content_type.startswith("text/event-stream")
    entry.response_headers = dict(upstream.headers)
    length = upstream.content_length
    if length is not None and length <= WHOLE_BODY_MAX and not entry.stream:
        return await _relay_whole(upstream, exchange, log_cap, extra_headers)
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason,
                                  headers=client_response_headers(upstream.headers))
    response.headers[ID_HEADER] = entry.id
    if extra_headers:
        response.headers.update(extra_headers)
    if upstream.content_length is not None:
        response.content_length = upstream.content_length
    capture = BodyCapture(log_cap, exchange.started)
    finished = False
    try:
        await response.prepare(request)
        while True:
            try:
                chunk = await upstream.content.readany()
            except UPSTREAM_READ_ERRORS as exc:
                await _fail_mid_body(request, response, upstream, entry, exc, capture.last_bytes)
                return response
            exchange.first_byte()
            if not chunk:
                break
            await response.write(chunk)
            capture.add(chunk)
        await response.write_eof()
        finished = True
        return response
    except ConnectionResetError:
        entry.status = CLIENT_CLOSED
        entry.error = "client disconnected"
        return response
    except Exception as exc:  # headers may be out already: cut the connection, never fake an end
        log.exception("%s %s: relaying the response failed", request.method, request.raw_path)
        entry.error = f"internal proxy error while relaying: {type(exc).__name__}"
        if request.transport is not None:
            request.transport.close()
        return response
    finally:
        capture.fill(entry)
        if finished:
            upstream.release()
        else:
            upstream.close()


async def _relay_whole(upstream: http1.Response, exchange: Exchange, log_cap: int,
                       extra_headers: Mapping[str, str] | None) -> web.Response:
    """A small body of known length: read it whole, answer in one write (cheaper than streaming).

    Nothing has reached the client before the body is complete, so an upstream that
    dies half-way becomes a clean 502 instead of a cut connection.
    """
    try:
        body = await upstream.read()
    except UPSTREAM_READ_ERRORS as exc:
        upstream.close()
        raise ProxyError(502, _describe_read_failure(exc, f"{upstream.url.host}:{upstream.url.port}")) from None
    entry = exchange.entry
    exchange.first_byte()
    if len(body) <= log_cap:  # the usual case: the log shares the bytes, no copy
        entry.response_body, entry.response_size = body, len(body)
    else:
        capture = BodyCapture(log_cap)
        capture.add(body)
        capture.fill(entry)
    upstream.release()
    response = web.Response(status=upstream.status, reason=upstream.reason, body=body,
                            headers=client_response_headers(upstream.headers))
    response.headers[ID_HEADER] = entry.id
    if extra_headers:
        response.headers.update(extra_headers)
    return response


async def _fail_mid_body(request: web.Request, response: web.StreamResponse,
                         upstream: http1.Response, entry: LogEntry, exc: BaseException,
                         last_bytes: bytes) -> None:
    host = f"{upstream.url.host}:{upstream.url.port}"
    message = _describe_read_failure(exc, host)
    entry.error = message
    log.warning("%s %s: %s", request.method, request.raw_path, message)
    if entry.stream and response.content_length is None:
        await response.write(frame_terminator(last_bytes) + error_event("api_error", message))
        response.force_close()
        await response.write_eof()
    elif request.transport is not None:
        request.transport.close()
