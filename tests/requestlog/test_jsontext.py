"""logjson gives exactly what the json module gives: the same text, the same values, the same refusals."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from claude_proxy.requestlog import jsontext as logjson

_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10**40), max_value=10**40)
            | st.floats(allow_nan=True, allow_infinity=True) | st.text())
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=25)


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (NaN equal to NaN, 1 unequal to 1.0 and True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _outcome(parse: Any, text: str) -> tuple[str, Any]:
    try:
        return "value", parse(text)
    except ValueError:
        return "refused", None
    except RecursionError:  # json's answer to deep nesting, which must come through unchanged
        return "too deep", None


def _agree(text: str) -> None:
    (kind, expected), (got_kind, got) = _outcome(json.loads, text), _outcome(logjson.loads, text)
    assert kind == got_kind, text
    assert _same(expected, got), text


@settings(max_examples=400, deadline=None)
@given(_values, st.booleans())
def test_loads_agrees_on_documents(value: Any, compact: bool) -> None:
    separators = (",", ":") if compact else None
    _agree(json.dumps(value, separators=separators))
    _agree(json.dumps(value, ensure_ascii=False, separators=separators))


@settings(max_examples=600, deadline=None)
@given(_values, st.integers(min_value=0, max_value=400), st.sampled_from(
    ["", "x", " ", "\t", "\x00", "\\", '"', ",", "]", "}", "{", "[", ":", "\\ud800", "\\udc00", "NaN", "-",
     "0", "1e999", "\ufeff", "\ud800", "\u2028", "\\u00", "01", "e5"]))
def test_loads_agrees_on_damaged_documents(value: Any, position: int, insert: str) -> None:
    text = json.dumps(value)
    position = min(position, len(text))
    _agree(text[:position] + insert + text[position:])
    _agree(text[:position])
    _agree(text[:position] + text[position + 1:])


def test_loads_agrees_on_what_jiter_refuses() -> None:
    for text in ['"\\ud800"', '{"\\udc00": 1}', '"\\ud834\\u0041"', "[" * 300 + "]" * 300, "[" * 2000 + "]" * 2000,
                 "[" * 100_000 + "]" * 100_000]:
        _agree(text)
    assert _outcome(logjson.loads, "[" * 2000 + "]" * 2000)[0] == "too deep"


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _values, max_size=6))
def test_dumps_unicode_writes_what_json_dumps_writes(value: dict[str, Any]) -> None:
    assert logjson.dumps_unicode(value) == json.dumps(value, ensure_ascii=False)


def test_dumps_unicode_refuses_what_json_dumps_refuses() -> None:
    for bad in ({"a": object()}, {"a": {1, 2}}, {(1, 2): 3}):
        try:
            json.dumps(bad, ensure_ascii=False)
        except TypeError as exc:
            expected = str(exc)
        try:
            logjson.dumps_unicode(bad)
        except TypeError as exc:
            assert str(exc) == expected
        else:
            raise AssertionError(bad)
