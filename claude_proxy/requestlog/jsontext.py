"""JSON for the request log: exactly the json module's text and values, at less cost per call.

Rows must not change when the writer gets faster, so nothing here is "equivalent
enough": each function returns what the stdlib call it replaces returns, for every
input. `json.dumps` with non-default options builds a new encoder per call and wraps
the C encoder in three Python layers; `json.loads` is several times slower than jiter
on the small event payloads a stream is made of.
"""

from __future__ import annotations

import json
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]  # json.dumps' own C encoder
from typing import Any

import jiter

__all__ = ["dumps_canonical", "dumps_unicode", "loads"]


def _default(o: Any) -> Any:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


# What json.dumps(o, ensure_ascii=False) runs, built once. Without circular-reference
# markers (the one piece of per-call state), so one encoder serves every call: the
# values logged come from parsing JSON, which never holds a cycle.
_UNICODE = (c_make_encoder(None, _default, encode_basestring, None, ": ", ", ", False, False, True)
            if c_make_encoder is not None else None)


# What json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False) runs, built once.
_CANONICAL = (c_make_encoder(None, _default, encode_basestring, None, ":", ",", True, False, True)
              if c_make_encoder is not None else None)


def dumps_canonical(obj: Any) -> str:
    """``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` for an acyclic value."""
    if _CANONICAL is None:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "".join(_CANONICAL(obj, 0))


def dumps_unicode(obj: dict[str, Any]) -> str:
    """``json.dumps(obj, ensure_ascii=False)`` for an acyclic dict (a parsed JSON document)."""
    if _UNICODE is None:  # an interpreter without the C accelerator
        return json.dumps(obj, ensure_ascii=False)
    return "".join(_UNICODE(obj, 0))


def loads(text: str) -> Any:
    """``json.loads(text)``: the same value, or ValueError where it raises one.

    jiter parses first. Wherever it succeeds it agrees with the json module (NaN and
    Infinity, integers of any size, the last of duplicate keys, correctly rounded
    floats); what it refuses and json accepts (lone surrogate escapes, nesting past its
    depth limit) falls through to json.loads, which decides, errors included.
    """
    try:
        return jiter.from_json(text.encode())
    except ValueError:  # UnicodeEncodeError included: a lone surrogate in the text
        return json.loads(text)
