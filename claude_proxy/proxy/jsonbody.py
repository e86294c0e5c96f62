"""A client's JSON body, read and written by a rule (rewrite, routing, fallbacks) without a 500.

Any body may arrive: nested past what a parser can recurse through, or carrying a lone
surrogate escape (valid JSON syntax, but no Unicode text can hold it, so it cannot be
written back as UTF-8). Those are the client's mistakes: each is a 400
``invalid_request_error`` naming the reason, never an internal error. A body no rule reads
is never parsed, so its bytes go upstream untouched either way.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from claude_proxy.proxy.errors import ProxyError


def parse_object(raw: bytes, needed_by: str) -> dict[str, Any]:
    """The body as a JSON object, or a 400 saying why it cannot be one (``needed_by`` says who asked)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = _parse_slowly(raw, needed_by)
    if not isinstance(body, dict):
        raise ProxyError(400, f"request body must be a JSON object ({needed_by} needs to read it)")
    return body


def _parse_slowly(raw: bytes, needed_by: str) -> Any:
    """What orjson refused: broken JSON, too deep, a lone surrogate, an integer past 64 bits (fine) or
    one of thousands of digits (refused)."""
    try:
        body = json.loads(raw)
    except RecursionError:
        raise ProxyError(400, f"request body is nested too deeply for {needed_by} to read it") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProxyError(400, f"request body is not valid JSON ({exc}); {needed_by} needs to read it") from None
    except ValueError:  # Python refuses to convert an integer of more than 4,300 digits
        raise ProxyError(400, f"request body holds a number too long for {needed_by} to read") from None
    dump(body)  # a lone surrogate or a depth only the slow parser reaches: refused now, not when sent
    return body


def dump(body: Any) -> bytes:
    """Compact UTF-8 JSON (non-ASCII kept), or a 400 when the document cannot be written as such."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except RecursionError:
        raise ProxyError(400, "request body is nested too deeply to be rewritten") from None
    except UnicodeEncodeError:
        raise ProxyError(400, "request body holds invalid Unicode (a lone surrogate escape such as \\ud800), "
                              "which cannot be sent on as UTF-8") from None
