"""Turn a `LogEntry` into the values of one request-log row.

Runs in the log's writer thread, never on the request path: this is where the
JSON parsing the proxy skipped happens (the requested model, the stream flag,
the assembled answer and its usage), where secrets are masked and where bodies
are cut at the size cap.
"""

from __future__ import annotations

import json
import logging
import zlib
from typing import TYPE_CHECKING, Any

import jiter

from claude_proxy.proxy.assemble import Assembled, assemble, looks_like_sse
from claude_proxy.proxy.logjson import dumps_unicode
from claude_proxy.proxy.masking import (
    mask_headers_json, mask_query, ordered_secrets, scrub_ordered, scrub_text_ordered)

if TYPE_CHECKING:
    from claude_proxy.proxy.requestlog import LogEntry

logger = logging.getLogger(__name__)

# One json.loads call holds the GIL for its whole run; past this size the writer
# skips whole-document parses so it never stalls the proxy's event loop.
PARSE_LIMIT = 8 * 1024 * 1024

COLUMNS: tuple[str, ...] = (
    "id", "started_at", "duration_ms", "ttfb_ms", "method", "path", "requested_model",
    "upstream_model", "stream", "status", "request_headers", "response_headers",
    "request_body", "response_body", "request_truncated", "response_truncated",
    "message", "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
    "stop_reason", "error", "route", "attempts", "request_bytes", "response_bytes", "attempt_log",
)


def _cut(body: bytes, limit: int) -> tuple[str, bool]:
    truncated = len(body) > limit
    if truncated:
        body = body[:limit]
    return body.decode("utf-8", errors="replace"), truncated


def _round(ms: float | None) -> float | None:
    return None if ms is None else round(ms, 2)


def starts_with(body: bytes, prefixes: bytes | tuple[bytes, ...], width: int) -> bool:
    """``body.lstrip()[:width].startswith(prefixes)`` without copying a long body to strip it."""
    head = body[:64].lstrip()
    if len(head) < width and len(body) > 64:  # a long run of whitespace first: do it the slow way
        head = body.lstrip()
    return head[:width].startswith(prefixes)


def _request_fields(body: bytes) -> dict[str, Any]:
    """The top-level fields of a JSON request body, or {} when it is not one (or too big)."""
    if not body or len(body) > PARSE_LIMIT or not starts_with(body, b"{", 1):
        return {}
    try:
        parsed = jiter.from_json(body)  # several times faster than json.loads on long prompts
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def decode_body(body: bytes, encoding: str) -> bytes:
    """The body as the client's SDK reads it: gzip and deflate undone (at most PARSE_LIMIT bytes).

    The proxy relays compressed bytes untouched, so the log is where they are opened;
    a body cut at the log cap still yields what its prefix holds. Encodings zlib
    cannot read are kept as they came.
    """
    if not body or encoding not in ("gzip", "x-gzip", "deflate"):
        return body
    try:
        return zlib.decompressobj(zlib.MAX_WBITS | 32).decompress(body, PARSE_LIMIT)
    except zlib.error:
        try:
            return zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, PARSE_LIMIT)
        except zlib.error:
            return body


def _assemble(entry: LogEntry, body: bytes, stream: bool) -> Assembled:
    if not body:
        return Assembled()
    if not stream and len(body) > PARSE_LIMIT:
        return Assembled(problems=["response too large to parse"])
    return assemble(body, stream=stream, tail=entry.response_tail if stream else b"")


def _content_headers(headers: dict[str, str]) -> tuple[str, str]:
    """The first Content-Encoding and Content-Type values, whatever their names' case ("" if absent)."""
    encoding = content_type = None
    for key, value in headers.items():
        lowered = key.lower()
        if lowered == "content-encoding" and encoding is None:
            encoding = str(value)
        elif lowered == "content-type" and content_type is None:
            content_type = str(value)
        if encoding is not None and content_type is not None:
            break
    return encoding or "", content_type or ""


def _attempt_log(entry: LogEntry) -> str | None:
    return json.dumps(entry.attempt_log) if len(entry.attempt_log) > 1 else None


def _int(usage: dict[str, Any], name: str) -> int | None:
    value = usage.get(name)
    return value if isinstance(value, int) else None


def row_values(entry: LogEntry, *, bodies: bool = True, max_body_bytes: int = 1 << 20) -> tuple[Any, ...]:
    """The column values for ``entry``, in `COLUMNS` order: masked, parsed, assembled and cut to the cap.

    Steps run in the order they always have, so an entry that cannot be processed
    fails with the same error (which its fallback row records).
    """
    request_headers, secrets = mask_headers_json(entry.request_headers)
    response_headers, more = mask_headers_json(entry.response_headers)
    path, in_query = mask_query(entry.path)
    secrets += more + in_query

    fields = _request_fields(entry.request_body) if entry.requested_model is None else {}
    encoding, content_type = _content_headers(entry.response_headers)
    response_body = decode_body(entry.response_body, encoding.strip().lower())
    stream = (entry.stream or "text/event-stream" in content_type or looks_like_sse(response_body)
              or fields.get("stream") is True)
    assembled = _assemble(entry, response_body, stream)
    message = assembled.message or {}
    usage = message.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    model = fields.get("model")
    duration_ms, ttfb_ms = _round(entry.duration_ms), _round(entry.ttfb_ms)
    requested = entry.requested_model or (model if isinstance(model, str) else None)
    upstream_model = entry.upstream_model or message.get("model")
    ordered = ordered_secrets(secrets) if secrets else secrets
    error = scrub_text_ordered(entry.error, ordered) if entry.error else assembled.error
    attempt_log = _attempt_log(entry)
    request_bytes = max(entry.request_size or 0, len(entry.request_body))
    response_bytes = max(entry.response_size or 0, len(entry.response_body))

    request_body = response_body_text = message_text = None
    request_truncated = response_truncated = False
    if bodies:
        request_body, request_truncated = _cut(scrub_ordered(entry.request_body, ordered), max_body_bytes)
        response_body_text, response_truncated = _cut(scrub_ordered(response_body, ordered), max_body_bytes)
        if assembled.message is not None:
            message_text = scrub_text_ordered(dumps_unicode(assembled.message), ordered)
    # A body the proxy already cut counts as truncated even when what it kept fits the cap.
    return (
        entry.id, entry.started_at, duration_ms, ttfb_ms, entry.method, path, requested, upstream_model,
        int(stream), entry.status, request_headers, response_headers, request_body, response_body_text,
        int(request_truncated or request_bytes > len(entry.request_body)),
        int(response_truncated or response_bytes > len(entry.response_body)),
        message_text, _int(usage, "input_tokens"), _int(usage, "output_tokens"),
        _int(usage, "cache_read_input_tokens"), _int(usage, "cache_creation_input_tokens"),
        message.get("stop_reason"), error, entry.route, entry.attempts, request_bytes, response_bytes, attempt_log,
    )


def build_row(entry: LogEntry, *, bodies: bool = True, max_body_bytes: int = 1 << 20) -> dict[str, Any]:
    """The column values for ``entry`` by column name (see `row_values`)."""
    return dict(zip(COLUMNS, row_values(entry, bodies=bodies, max_body_bytes=max_body_bytes)))


def fallback_row(entry: LogEntry, reason: str) -> dict[str, Any]:
    """The metadata-only row kept when an entry could not be processed, so no exchange vanishes."""
    row = dict.fromkeys(COLUMNS)
    row.update({
        "id": entry.id, "started_at": entry.started_at, "duration_ms": entry.duration_ms,
        "ttfb_ms": entry.ttfb_ms, "method": entry.method, "path": mask_query(entry.path)[0],
        "status": entry.status, "stream": int(bool(entry.stream)), "request_truncated": 0,
        "response_truncated": 0, "attempts": entry.attempts, "route": entry.route,
        "attempt_log": _attempt_log(entry),
        "error": f"request log could not process this entry: {reason}",
    })
    return row
