"""A varied, frozen set of log entries whose rows `test_row_golden` pins, column by column.

`row_golden.json` holds the rows `build_row` made from these entries before any of its
speed-ups; every later change to row building must reproduce them exactly. The entries
are built here from literals and the shared wire fixtures (never from bench code that
may change). Regenerate the file only for a deliberate change of what rows hold:

    PYTHONPATH=. python -m tests.requestlog.golden_rows --write
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
import zlib
from pathlib import Path
from typing import Any, Callable

from multidict import CIMultiDict

from claude_proxy.requestlog.entry import LogEntry

GOLDEN = Path(__file__).with_name("row_golden.json")
KEY = "sk-ant-api03-GOLDENkeyDoNotLog-0123456789abcdefWXYZ"
OTHER_KEY = "sk-proj-0therKEYvalue-abcdefghijklmnop"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpM"

# A ~2 KB Messages request like the bench's (system prompt, three turns, one tool), frozen.
_REQUEST = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "system": "You are a careful coding assistant working in a large repository. Read files before "
              "editing them, keep changes small, run the tests after each change and explain what you did. " * 6,
    "tools": [{"name": "read_file", "description": "Read a text file and return its content with line numbers.",
               "input_schema": {"type": "object", "properties": {"path": {"type": "string"},
                                                                 "offset": {"type": "integer"}},
                                "required": ["path"]}}],
    "messages": [{"role": "user", "content": "The request log is slow under load. Can you look at why?"},
                 {"role": "assistant", "content": "I will read the writer first, then measure."},
                 {"role": "user", "content": "Sounds good. Keep the public interface the same."}],
}
ANSWER = json.dumps({
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
    "content": [{"type": "text", "text": "I will start by reading the request log writer."}],
    "model": "claude-sonnet-4-5", "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 412, "output_tokens": 12},
}, separators=(",", ":")).encode()
REQUEST_HEADERS = {"content-type": "application/json", "x-api-key": KEY, "anthropic-version": "2023-06-01",
                   "Accept": "*/*", "Accept-Encoding": "gzip, deflate", "User-Agent": "Python/3.11 aiohttp/3",
                   "x-claude-proxy-hop": "9d308d94e669"}
RESPONSE_HEADERS = {"Content-Type": "application/json", "request-id": "req_bench", "Content-Length": "280",
                    "Date": "Sat, 21 Nov 2026 06:54:37 GMT", "Server": "Python/3.11 aiohttp/3"}
SSE_HEADERS = {"Content-Type": "text/event-stream", "request-id": "req_stream", "Cache-Control": "no-cache"}


def request(stream: bool = False, **extra: Any) -> bytes:
    return json.dumps({**_REQUEST, "stream": stream, **extra}, separators=(",", ":")).encode()


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def bench_stream(deltas: int) -> bytes:
    """A text stream shaped like the bench upstream's: start, ``deltas`` text deltas, the close."""
    head = [sse("message_start", {"type": "message_start", "message": {
                "id": "msg_bench", "type": "message", "role": "assistant", "content": [],
                "model": "claude-sonnet-4-5", "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": 412, "output_tokens": 1}}}),
            sse("content_block_start", {"type": "content_block_start", "index": 0,
                                        "content_block": {"type": "text", "text": ""}})]
    middle = [sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                          "delta": {"type": "text_delta", "text": f"@{i:012d} "}})
              for i in range(deltas)]
    tail = [sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                     "stop_sequence": None},
                                  "usage": {"output_tokens": deltas}}),
            sse("message_stop", {"type": "message_stop"})]
    return b"".join(head + middle + tail)


def entry(n: int, **fields: Any) -> LogEntry:
    """The bench's typical JSON exchange, deterministic, with ``fields`` changed."""
    values: dict[str, Any] = {
        "id": f"golden{n:04d}", "started_at": 1_790_000_000.125 + n, "method": "POST", "path": "/v1/messages",
        "duration_ms": 1.5, "ttfb_ms": 1.2, "status": 200, "request_headers": dict(REQUEST_HEADERS),
        "response_headers": dict(RESPONSE_HEADERS), "request_body": request(), "response_body": ANSWER,
        "request_size": len(request()), "response_size": len(ANSWER),
    }
    values.update(fields)
    return LogEntry(**values)


def _streamed(n: int, body: bytes, **fields: Any) -> LogEntry:
    return entry(n, **{"stream": True, "request_body": request(True), "response_headers": dict(SSE_HEADERS),
                       "response_body": body, "request_size": None, "response_size": None, **fields})


Case = tuple[str, LogEntry, dict[str, Any]]


def _fixture_cases(fixtures: Path) -> list[Case]:
    cases: list[Case] = []
    folders = ("anthropic", "derived", "openai")
    files = sorted(p for folder in folders for p in (fixtures / folder).iterdir() if p.suffix in (".sse", ".json"))
    for i, path in enumerate(files):
        body = path.read_bytes()
        if path.suffix == ".sse":
            cases.append((f"stream:{path.name}", _streamed(100 + i, body), {}))
        else:
            status = 529 if "overloaded" in path.name else 404 if "not-found" in path.name else \
                400 if "error" in path.name else 200
            cases.append((f"json:{path.name}", entry(100 + i, response_body=body, status=status,
                                                      response_size=len(body)), {}))
    return cases


def _header_cases() -> list[Case]:
    secret_headers = {
        "Authorization": f"Bearer {KEY}", "Proxy-Authorization": "Basic dXNlcjpwYXNzd29yZA==",
        "Cookie": "session=abc123456789; theme=dark", "X-Goog-Api-Key": "AIzaSyA-goldensecret-1234",
        "X-Auth-Token": "short", "api-key": "", "X-Session_ID": "sess-0123456789",
        "x-custom": f"prefix {OTHER_KEY} suffix", "x-id-assertion": JWT, "x-upstream": "Bearer abcdefghijklmnopq",
        "x-note": "caf\u00e9 \u2713 \"quoted\" back\\slash", "X-API-KEY": "sk-ant-secondspelling-0123456789",
        "x-api-key": KEY, "anthropic-beta": "tools-2024-04-04", "x-token-count": "12",
    }
    response_headers = {**RESPONSE_HEADERS, "Set-Cookie": "sid=0123456789abcdef; Path=/; HttpOnly",
                        "x-echo": f"you sent {KEY}"}
    body_with_keys = request(metadata={"user_id": KEY, "note": f"also {OTHER_KEY} and {JWT}"})
    answer_with_key = ANSWER.replace(b"reading the request log writer", f"echoing {KEY} back".encode())
    return [
        ("headers:secrets-every-kind", entry(200, request_headers=secret_headers,
                                             response_headers=response_headers), {}),
        ("headers:istr-names", entry(201, request_headers=dict(CIMultiDict(REQUEST_HEADERS)),
                                     response_headers=dict(CIMultiDict(RESPONSE_HEADERS))), {}),
        ("headers:secrets-in-bodies", entry(202, request_headers=secret_headers, request_body=body_with_keys,
                                            response_body=answer_with_key), {}),
        ("headers:secrets-in-stream", _streamed(203, bench_stream(3).replace(b"@000000000001", KEY.encode()),
                                                request_headers=secret_headers), {}),
        ("headers:none", entry(204, request_headers={}, response_headers={}), {}),
        ("headers:short-key", entry(205, request_headers={"x-api-key": "abc", "authorization": "Bearer abcdefg"},
                                    request_body=request(metadata={"k": "abc abcdefg"})), {}),
        ("headers:error-with-key", entry(206, status=502, response_body=b"", response_headers={},
                                         error=f"upstream refused key {KEY} (401)"), {}),
    ]


def _query_cases() -> list[Case]:
    paths = [
        "/v1/messages?beta=true", "/v1/messages?key=AIzaSyA-querysecret123&beta=true",
        "/v1/messages?beta=true;api_key=abcdefghijkl#frag", "/v1/models?access_token=tok123456789&x=",
        "/v1/messages?sig=&token=abc", "/v1/messages?", "/v1/messages?Session-Id=s-0123456789&k=v&k=w",
        "/v1/messages?a=1?b=2&secret=\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9",
    ]
    cases = [(f"query:{p}", entry(300 + i, path=p), {}) for i, p in enumerate(paths)]
    leak = request(metadata={"q": "AIzaSyA-querysecret123"})
    cases.append(("query:secret-echoed-in-body", entry(310, path=paths[1], request_body=leak,
                                                       error="bad key AIzaSyA-querysecret123"), {}))
    return cases


def _encoding_cases() -> list[Case]:
    deflated = zlib.compress(ANSWER)
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_deflated = raw.compress(ANSWER) + raw.flush()
    gz = gzip.compress(ANSWER, mtime=0)
    gz_stream = gzip.compress(bench_stream(4), mtime=0)
    specs = [
        ("gzip", gz, "gzip"), ("GZIP-spaced", gz, " GZIP "), ("x-gzip", gz, "x-gzip"), ("deflate", deflated, "deflate"),
        ("raw-deflate", raw_deflated, "deflate"), ("gzip-cut", gz[: len(gz) // 2], "gzip"),
        ("gzip-garbage", b"\x1f\x8bnot really gzip", "gzip"), ("br-kept", b"\x8b\x05\x80compressed?", "br"),
        ("identity", ANSWER, "identity"),
    ]
    cases = [(f"encoding:{name}", entry(400 + i, response_body=body, response_size=len(body),
                                        response_headers={**RESPONSE_HEADERS, "Content-Encoding": enc}), {})
             for i, (name, body, enc) in enumerate(specs)]
    cases.append(("encoding:gzip-stream", _streamed(420, gz_stream, response_headers={
        **SSE_HEADERS, "content-encoding": "gzip"}), {}))
    cases.append(("encoding:gzip-request-left-alone", entry(421, request_body=gzip.compress(request(), mtime=0),
                                                            request_headers={**REQUEST_HEADERS,
                                                                             "content-encoding": "gzip"}), {}))
    return cases


def _size_cases() -> list[Case]:
    long_stream = bench_stream(400)
    unicode_answer = ANSWER.replace(b"I will start", "\u00e9\u00e9\u4e2d\u6587 \U0001F600".encode() * 20)
    return [
        ("cap:both-cut", entry(500), {"max_body_bytes": 100}),
        ("cap:cut-mid-character", entry(501, response_body=unicode_answer), {"max_body_bytes": 130}),
        ("cap:exactly-at-cap", entry(502, response_body=ANSWER), {"max_body_bytes": len(ANSWER)}),
        ("cap:stream-cut", _streamed(503, long_stream), {"max_body_bytes": 2000}),
        ("cap:proxy-kept-head", entry(504, request_body=request()[:900], request_size=len(request()),
                                      response_body=ANSWER[:100], response_size=len(ANSWER)), {}),
        ("tail:long-stream", _streamed(505, long_stream[:4096], response_tail=long_stream[-400:],
                                       response_size=len(long_stream)), {"max_body_bytes": 4096}),
        ("tail:no-boundary", _streamed(506, long_stream[:3000], response_tail=long_stream[-30:],
                                       response_size=len(long_stream)), {}),
        ("tail:crlf", _streamed(507, long_stream[:1500].replace(b"\n", b"\r\n"),
                                response_tail=long_stream[-500:].replace(b"\n", b"\r\n")), {}),
        ("tail:only-middle-events", _streamed(508, long_stream[:2000], response_tail=long_stream[5000:5600]), {}),
        ("bodies-off:json", entry(509), {"bodies": False}),
        ("bodies-off:stream", _streamed(510, bench_stream(5), error=f"client gone {KEY}"), {"bodies": False}),
        ("bodies-off:proxy-kept-head", entry(511, request_body=b"{}", request_size=5000), {"bodies": False}),
    ]


def _odd_cases() -> list[Case]:
    odd_answer = json.dumps({
        "type": "message", "id": "msg_odd", "model": "claude-odd", "role": "assistant",
        "content": [{"type": "text", "text": "tab\there \u2028 nul\u0000 \"q\" \\ caf\u00e9 \U0001F600 </script>"}],
        "stop_reason": None, "usage": {"input_tokens": 7, "output_tokens": 2.0, "cache_read_input_tokens": True,
                                       "cache_creation_input_tokens": 2**62},
        "floats": [0.1, 1e-7, -0.0, 1e300, 123456789.123456789, 5e-324], "big": -(10**30), "nested": {"a": [[], {}]},
    }, ensure_ascii=False).encode()
    nan_stream = bench_stream(2).replace(b'"output_tokens":1}', b'"output_tokens":1,"x":NaN,"y":-Infinity}')
    spaced_stream = b"\n  \n" + bench_stream(2).replace(b"event: ", b"event:").replace(b"data: ", b"data:")
    return [
        ("odd:bench-typical", entry(600), {}),
        ("odd:unicode-and-numbers", entry(601, response_body=odd_answer), {}),
        ("odd:nan-in-stream", _streamed(602, nan_stream), {}),
        ("odd:stream-sniffed", _streamed(603, spaced_stream, stream=False, response_headers={}), {}),
        ("odd:stream-by-request-flag", _streamed(604, bench_stream(1), stream=False,
                                                 response_headers=dict(RESPONSE_HEADERS)), {}),
        ("odd:stream-flag-json-answer", entry(605, stream=True), {}),
        ("odd:non-json-bodies", entry(606, request_body=b"hello, not json", response_body=b"<html>Bad gateway</html>",
                                      status=502), {}),
        ("odd:json-list-bodies", entry(607, request_body=b"  [1, 2]", response_body=b"[{\"type\": \"message\"}]"), {}),
        ("odd:invalid-utf8", entry(608, request_body=b'{"model":"m\xff\xfe","x":"\xc3"}',
                                   response_body=b'{"type":"message","content":"\xff"}'), {}),
        ("odd:model-not-a-string", entry(609, request_body=b'{"model": 5, "stream": "yes"}'), {}),
        ("odd:bom-and-whitespace", entry(610, request_body=b"\xef\xbb\xbf" + request(),
                                         response_body=b"\n\t " + ANSWER + b"\n"), {}),
        ("odd:empty-everything", LogEntry(id="golden0611", started_at=1_790_000_611.0, method="GET",
                                          path="/v1/models"), {}),
        ("odd:empty-bodies-with-status", entry(612, request_body=b"", response_body=b"", status=204,
                                               request_size=0, response_size=0), {}),
        ("odd:models-known", entry(613, requested_model="claude-opus-4-1", upstream_model="claude-haiku-4-5",
                                   route="anthropic/claude-haiku-4-5"), {}),
        ("odd:retried", entry(614, attempts=3, route="backup/claude-sonnet-4-5", attempt_log=[
            {"n": 1, "target": "primary", "status": 529, "wait_ms": 12.5},
            {"n": 2, "target": "primary", "error": "connection reset \u2013 caf\u00e9"},
            {"n": 3, "target": "backup", "status": 200, "wait_ms": 0.0}]), {}),
        ("odd:one-attempt-logged", entry(615, attempt_log=[{"n": 1, "target": "primary", "status": 200}]), {}),
        ("odd:timings", entry(616, duration_ms=12.345678, ttfb_ms=None, started_at=1_790_000_616.987654321), {}),
        ("odd:bytearray-bodies", entry(617, request_body=bytearray(request()), response_body=bytearray(ANSWER)), {}),
        ("odd:head-request", entry(618, method="HEAD", path="/", status=None, duration_ms=None, ttfb_ms=None,
                                   request_body=b"", response_body=b"", request_size=None, response_size=None), {}),
        ("odd:not-bytes-raises", entry(619, response_body="a str"), {}),
        ("odd:error-answer-json", entry(620, status=429, response_body=b'{"type":"error","error":'
                                        b'{"type":"rate_limit_error","message":"slow down"}}'), {}),
        ("odd:bytearray-answer-model-known", entry(623, requested_model="m", response_body=bytearray(ANSWER)), {}),
        ("odd:header-names-not-str", entry(624, request_headers={5: "five", b"x-api-key": KEY, None: "n"},
                                           response_headers={1: "one", "Content-Type": "application/json"}), {}),
        ("odd:header-values-not-str", entry(625, request_headers={"x-n": 1, "x-f": 1.0, "x-b": True, "x-api-key": KEY},
                                            response_headers={"content-type": "application/json", "x-n": None}), {}),
        ("odd:response-header-bytes-name", entry(626, response_headers={b"content-type": "text/event-stream",
                                                                        "Content-Type": "application/json"}), {}),
        ("odd:duplicate-content-headers", entry(627, response_headers={
            "Content-Encoding": "gzip", "content-encoding": "identity", "CONTENT-TYPE": "text/plain",
            "content-type": "text/event-stream"}, response_body=gzip.compress(ANSWER, mtime=0)), {}),
        ("odd:huge-token-count", entry(622, response_body=ANSWER.replace(b"412", b"1" + b"0" * 22)), {}),
        ("odd:error-answer-empty-error", entry(621, status=500, response_body=b'{"type":"error","error":{}}'), {}),
    ]


def _ev(data: dict[str, Any]) -> bytes:
    return sse(str(data["type"]), data)


_START = _ev({"type": "message_start", "message": {
    "id": "msg_edge", "type": "message", "role": "assistant", "content": [], "model": "claude-edge",
    "usage": {"input_tokens": 3}}})


def _block(index: int, block: dict[str, Any]) -> bytes:
    return _ev({"type": "content_block_start", "index": index, "content_block": block})


def _delta(index: Any, delta: dict[str, Any]) -> bytes:
    return _ev({"type": "content_block_delta", "index": index, "delta": delta})


def _text(index: Any, text: Any) -> bytes:
    return _delta(index, {"type": "text_delta", "text": text})


def _stream_edge_cases() -> list[Case]:
    """Streams that take the assembler off its usual path: interleaving, replacing, odd values, odd framing."""
    stop = _ev({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}})
    bodies = {
        "interleaved-blocks": [_START, _block(0, {"type": "thinking", "thinking": ""}), _block(1, {"type": "text"}),
                               _delta(0, {"type": "thinking_delta", "thinking": "hm"}), _text(1, "a"),
                               _delta(0, {"type": "signature_delta", "signature": "sig1"}), _text(1, 5),
                               _delta(0, {"type": "thinking_delta", "thinking": None}), _text(1, ["x"]),
                               _delta(0, {"type": "signature_delta", "signature": "sig2"}), _text(1, "b"), stop],
        "block-replaced-mid-text": [_START, _block(0, {"type": "text", "text": "x"}), _text(0, "a"), _text(0, "b"),
                                    _block(0, {"type": "text", "text": "y"}), _text(0, "c"), stop],
        "content-replaced-by-delta": [_START, _block(0, {"type": "text", "text": ""}), _text(0, "a"),
                                      _ev({"type": "message_delta", "delta": {"content": [{"type": "text"}]}}),
                                      _text(0, "b"), stop],
        "non-string-text-start": [_START, _block(0, {"type": "text", "text": 7}), _text(0, "a"), stop],
        "gapped-indices": [_START, _block(2, {"type": "text", "text": ""}), _text(2, "z"), _text(0, "lost"),
                           _text(-1, "neg"), _text("1", "str"), _text(5, "far"), stop],
        "two-message-starts": [_START, _block(0, {"type": "text", "text": ""}), _text(0, "first"), _START,
                               _block(0, {"type": "text", "text": ""}), _text(0, "second"), stop],
        "before-start-and-unknown": [_text(0, "early"), _ev({"type": "ping"}), _START,
                                     _delta(0, {"type": "mystery_delta"}), _ev({"type": "mystery"}),
                                     _block(0, {"type": "text", "text": ""}),
                                     _delta(0, {"type": "citations_delta", "citation": {"n": 1}}), stop],
        "tool-inputs": [_START, _block(0, {"type": "tool_use", "id": "t0", "name": "a", "input": {}}),
                        _delta(0, {"type": "input_json_delta", "partial_json": '{"big": 123456789012345678901234,'}),
                        _delta(0, {"type": "input_json_delta", "partial_json": ' "nan": NaN, "s": "\\ud800'}),
                        _ev({"type": "content_block_stop", "index": 0}),
                        _block(1, {"type": "tool_use", "id": "t1", "name": "b", "input": {}}),
                        _delta(1, {"type": "input_json_delta", "partial_json": '[1, 2]'}),
                        _ev({"type": "content_block_stop", "index": 1}),
                        _block(2, {"type": "tool_use", "id": "t2", "name": "c", "input": {}}),
                        _delta(2, {"type": "input_json_delta", "partial_json": '{"cut": "abc'}), stop],
    }
    framing = {
        "comments-and-fields": b": hello\nid: 1\nretry: 5\n" + _START + b"event: content_block_start\ndata:" +
        _block(0, {"type": "text", "text": ""}).split(b"data: ", 1)[1] + b"data\n\n" + b"event:content_block_delta\n"
        b'data: {"type":"content_block_delta","index":0,\ndata: "delta":{"type":"text_delta","text":"two lines"}}\n\n'
        b"event: with: colon\n\n\n\n" + stop + b"event: message_stop\n" + b'data: {"type": "message_stop"}',
        "cr-only": (_START + _block(0, {"type": "text", "text": ""}) + _text(0, "cr") + stop).replace(b"\n", b"\r"),
        "bom-and-untyped": b"\xef\xbb\xbf" + _START + b'data: {"index":0,"content_block":{"type":"text"}}\n\n'
        + b'event: content_block_delta\ndata: {"index":0,"delta":{"type":"text_delta","text":"untyped"}}\n\n'
        + b"data: [1, 2]\n\ndata: not json\n\n" + stop,
        "escapes": _START + _block(0, {"type": "text", "text": ""}) + b'event: content_block_delta\ndata: '
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
        b'"text":"\\ud83d\\ude00 \\ud800 \\u00e9"}}'
        b"\n\n" + stop,
    }
    cases = [(f"stream-edge:{name}", _streamed(700 + i, b"".join(parts)), {}) for i, (name, parts) in
             enumerate(sorted(bodies.items()))]
    cases += [(f"stream-edge:{name}", _streamed(720 + i, body), {}) for i, (name, body) in
              enumerate(sorted(framing.items()))]
    tail_error = bench_stream(50)
    cases.append(("stream-edge:tail-with-error", _streamed(730, tail_error[:1200], response_tail=(
        tail_error[-300:] + b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
        b"\"message\":\"Overloaded\"}}\n\n"), response_size=len(tail_error) + 90), {}))
    return cases


def cases(fixtures: Path) -> list[Case]:
    """Every golden case as ``(name, entry, build_row options)``; names are unique."""
    every = (_fixture_cases(fixtures) + _header_cases() + _query_cases() + _encoding_cases()
             + _size_cases() + _odd_cases() + _stream_edge_cases())
    assert len({name for name, _, _ in every}) == len(every)
    return every


# Longer column texts are pinned by their SHA-256 (and kept short), so the file stays small.
PIN_CHARS = 600


def pinned(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with each long text replaced by its length, digest and first characters."""
    return {column: f"<{len(value)} chars, sha256 {hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()}>"
                    f" {value[:160]}"
            if isinstance(value, str) and len(value) > PIN_CHARS else value
            for column, value in row.items()}


def outcome(build: Callable[..., dict[str, Any]], item: LogEntry, options: dict[str, Any]) -> dict[str, Any]:
    """The row ``build`` makes (pinned), or ``{"raises": "Type: message"}`` for an entry it refuses
    (the message is what the fallback row's error column says)."""
    try:
        return pinned(build(item, **options))
    except Exception as exc:  # the golden file pins which entries are refused, too
        return {"raises": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str]) -> int:
    if argv[1:] != ["--write"]:
        print(__doc__)
        return 2
    from claude_proxy.requestlog.row import build_row
    from tests.conftest import FIXTURES

    rows = {name: outcome(build_row, item, options) for name, item, options in cases(FIXTURES)}
    GOLDEN.write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(rows)} rows to {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
