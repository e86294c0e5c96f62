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
from claude_proxy.proxy.masking import mask_headers, mask_query, scrub, scrub_text

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


def _request_fields(body: bytes) -> dict[str, Any]:
    """The top-level fields of a JSON request body, or {} when it is not one (or too big)."""
    if not body or len(body) > PARSE_LIMIT or not body.lstrip().startswith(b"{"):
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


def _is_stream(entry: LogEntry, content_type: str, body: bytes) -> bool:
    return entry.stream or "text/event-stream" in content_type or looks_like_sse(body)


def _assemble(entry: LogEntry, body: bytes, stream: bool) -> Assembled:
    if not body:
        return Assembled()
    if not stream and len(body) > PARSE_LIMIT:
        return Assembled(problems=["response too large to parse"])
    return assemble(body, stream=stream, tail=entry.response_tail if stream else b"")


def _header(headers: dict[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return ""


def _attempt_log(entry: LogEntry) -> str | None:
    return json.dumps(entry.attempt_log) if len(entry.attempt_log) > 1 else None


def build_row(entry: LogEntry, *, bodies: bool = True, max_body_bytes: int = 1 << 20) -> dict[str, Any]:
    """The column values for ``entry``: masked, parsed, assembled and cut to the cap."""
    request_headers, secrets = mask_headers(entry.request_headers)
    response_headers, more = mask_headers(entry.response_headers)
    path, in_query = mask_query(entry.path)
    secrets += more + in_query

    fields = _request_fields(entry.request_body) if entry.requested_model is None else {}
    encoding = _header(entry.response_headers, "content-encoding").strip().lower()
    response_body = decode_body(entry.response_body, encoding)
    stream = (_is_stream(entry, _header(entry.response_headers, "content-type"), response_body)
              or fields.get("stream") is True)
    assembled = _assemble(entry, response_body, stream)
    usage = assembled.usage
    requested = entry.requested_model or (fields.get("model") if isinstance(fields.get("model"), str) else None)

    row: dict[str, Any] = {
        "id": entry.id,
        "started_at": entry.started_at,
        "duration_ms": _round(entry.duration_ms),
        "ttfb_ms": _round(entry.ttfb_ms),
        "method": entry.method,
        "path": path,
        "requested_model": requested,
        "upstream_model": entry.upstream_model or assembled.model,
        "stream": int(stream),
        "status": entry.status,
        "request_headers": json.dumps(request_headers),
        "response_headers": json.dumps(response_headers),
        "request_body": None,
        "response_body": None,
        "request_truncated": 0,
        "response_truncated": 0,
        "message": None,
        "input_tokens": usage.get("input_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "cache_read_tokens": usage.get("cache_read_input_tokens"),
        "cache_creation_tokens": usage.get("cache_creation_input_tokens"),
        "stop_reason": assembled.stop_reason,
        "error": scrub_text(entry.error, secrets) if entry.error else assembled.error,
        "route": entry.route,
        "attempts": entry.attempts,
        "attempt_log": _attempt_log(entry),
        "request_bytes": max(entry.request_size or 0, len(entry.request_body)),
        "response_bytes": max(entry.response_size or 0, len(entry.response_body)),
    }
    if bodies:
        row["request_body"], row["request_truncated"] = _cut(scrub(entry.request_body, secrets), max_body_bytes)
        row["response_body"], row["response_truncated"] = _cut(scrub(response_body, secrets), max_body_bytes)
        if assembled.message is not None:
            row["message"] = scrub_text(json.dumps(assembled.message, ensure_ascii=False), secrets)
    # A body the proxy already cut counts as truncated even when what it kept fits the cap.
    row["request_truncated"] = int(bool(row["request_truncated"]) or row["request_bytes"] > len(entry.request_body))
    row["response_truncated"] = int(bool(row["response_truncated"]) or row["response_bytes"] > len(entry.response_body))
    return row


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
