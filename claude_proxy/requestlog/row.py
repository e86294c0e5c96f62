"""Turn a `LogEntry` into the values of one request-log row.

Runs in the log's writer thread, never on the request path: this is where the
JSON parsing the proxy skipped happens (the requested model, the stream flag,
the assembled answer and its usage), where secrets are masked and where bodies
are cut at the size cap.

It runs once per exchange in the writer process, which shares the machine's cores
with the proxy, so it is written for low CPU; what it produces must not change with
that (tests/requestlog/test_row_golden.py pins every column for a varied set of entries).
"""

from __future__ import annotations

import json
import logging
import zlib
from typing import TYPE_CHECKING, Any, NamedTuple

import jiter

from claude_proxy.requestlog import facts
from claude_proxy.requestlog.assemble import Assembled, assemble, read_answer
from claude_proxy.requestlog.jsontext import dumps_unicode
from claude_proxy.requestlog.masking import (
    mask_headers_json,
    mask_query,
    mask_response_headers_json,
    ordered_secrets,
    scrub_ordered,
    scrub_text_ordered,
)
from claude_proxy.requestlog.sse import looks_like_sse

if TYPE_CHECKING:
    from claude_proxy.requestlog.entry import LogEntry

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


class Decoded(NamedTuple):
    """A request body the trace store's writer has already read (split), and its top-level values.

    The store splits every request body anyway, and that scan yields the same top-level
    fields a whole parse would, for a fraction of the cost once the pieces recur; passing it
    in spares the writer a second parse of a 100 KB body. With it, `row_values` leaves the
    request body as bytes (masked and cut to the cap, as ever): the store keeps bytes, and
    when they are ``body`` itself, its split is used as it is.
    """

    body: bytes
    fields: dict[str, Any] | None  # None: not known from the scan (read the body the usual way)
    # Filled by `row_values`: (the row's message text, the answer it is the JSON of), so the store
    # need not parse it back.
    answer: list[tuple[str, Any]]


def _cut(body: bytes, limit: int) -> tuple[str, bool]:
    truncated = len(body) > limit
    if truncated:
        body = body[:limit]
    return body.decode("utf-8", errors="replace"), truncated


def _request_fields(body: bytes) -> dict[str, Any]:
    """The top-level fields of a JSON request body, or {} when it is not one (or too big)."""
    if not body or len(body) > PARSE_LIMIT:
        return {}
    head = body[:64].lstrip()
    if not head and len(body) > 64:  # a long run of whitespace first: strip it all (no copy otherwise)
        head = body.lstrip()
    if not head.startswith(b"{"):
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


def _header(headers: dict[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return ""


def _attempt_log(entry: LogEntry) -> str | None:
    return json.dumps(entry.attempt_log) if len(entry.attempt_log) > 1 else None


def row_values(entry: LogEntry, *, bodies: bool = True, max_body_bytes: int = 1 << 20,
               decoded: Decoded | None = None) -> tuple[Any, ...]:
    """The column values for ``entry``, in `COLUMNS` order: masked, parsed, assembled and cut to the cap.

    Steps run in the order they always have, so an entry that cannot be processed
    fails with the same error (which its fallback row records). This runs once per
    exchange in the writer, so small helpers are written out in it. ``decoded``: the
    request body already read (see `Decoded`); the row's request body is then its bytes
    (that very object when masking and the cap leave the body as it came), not text.
    """
    request_headers, secrets = mask_headers_json(entry.request_headers)
    response_headers, more, content = mask_response_headers_json(entry.response_headers)
    path, in_query = mask_query(entry.path)
    secrets += more + in_query

    if entry.requested_model is not None:
        fields: dict[str, Any] = {}
    elif decoded is not None and decoded.fields is not None:
        fields = decoded.fields
    else:
        fields = _request_fields(entry.request_body)
    if content is None:  # a header name that is not a str: the lookups decide what it means
        encoding = _header(entry.response_headers, "content-encoding")
        response_body = decode_body(entry.response_body, encoding.strip().lower())
        content_type = _header(entry.response_headers, "content-type")
    else:
        encoding, content_type = content
        response_body = decode_body(entry.response_body, encoding.strip().lower())
    stream = (entry.stream or "text/event-stream" in content_type or looks_like_sse(response_body)
              or fields.get("stream") is True)
    if stream or type(response_body) is not bytes or not response_body or len(response_body) > PARSE_LIMIT:
        assembled = _assemble(entry, response_body, stream)
        answer, answer_error = assembled.message, assembled.error
    else:  # the usual JSON answer, read without the layers around it
        answer, answer_error, _ = read_answer(response_body)
    message = answer or {}
    usage = message.get("usage")
    if isinstance(usage, dict):
        input_tokens, output_tokens = usage.get("input_tokens"), usage.get("output_tokens")
        cache_read, cache_creation = usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens")
    else:
        input_tokens = output_tokens = cache_read = cache_creation = None
    model = fields.get("model")
    duration_ms = None if entry.duration_ms is None else round(entry.duration_ms, 2)
    ttfb_ms = None if entry.ttfb_ms is None else round(entry.ttfb_ms, 2)
    requested = entry.requested_model or (model if isinstance(model, str) else None)
    upstream_model = entry.upstream_model or message.get("model")
    ordered = secrets if len(secrets) < 2 else ordered_secrets(secrets)  # one secret (the API key): no sort
    error = scrub_text_ordered(entry.error, ordered) if entry.error else answer_error
    attempt_log = _attempt_log(entry)
    request_bytes = max(entry.request_size or 0, len(entry.request_body))
    response_bytes = max(entry.response_size or 0, len(entry.response_body))

    request_body: str | bytes | None = None
    response_body_text = message_text = None
    request_truncated = response_truncated = False
    if bodies:
        scrubbed = scrub_ordered(entry.request_body, ordered)
        if decoded is not None:  # the store's writer: it keeps the bytes (see `Decoded`)
            request_truncated = len(scrubbed) > max_body_bytes
            request_body = scrubbed[:max_body_bytes] if request_truncated else scrubbed
        else:
            request_body, request_truncated = _cut(scrubbed, max_body_bytes)
        response_body_text, response_truncated = _cut(scrub_ordered(response_body, ordered), max_body_bytes)
        if answer is not None:
            text = dumps_unicode(answer)
            message_text = scrub_text_ordered(text, ordered)
            if decoded is not None and message_text is text:
                decoded.answer.append((text, answer))
    # A body the proxy already cut counts as truncated even when what it kept fits the cap.
    return (
        entry.id, entry.started_at, duration_ms, ttfb_ms, entry.method, path, requested, upstream_model,
        int(stream), entry.status, request_headers, response_headers, request_body, response_body_text,
        int(request_truncated or request_bytes > len(entry.request_body)),
        int(response_truncated or response_bytes > len(entry.response_body)),
        message_text, facts.count(input_tokens), facts.count(output_tokens), facts.count(cache_read),
        facts.count(cache_creation),
        message.get("stop_reason"), error, entry.route, entry.attempts, request_bytes, response_bytes, attempt_log,
    )


def build_row(entry: LogEntry, *, bodies: bool = True, max_body_bytes: int = 1 << 20) -> dict[str, Any]:
    """The column values for ``entry`` by column name (see `row_values`)."""
    return dict(zip(COLUMNS, row_values(entry, bodies=bodies, max_body_bytes=max_body_bytes), strict=True))


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
