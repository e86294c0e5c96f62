"""The cached header masking writes exactly what masking a dict and json.dumps-ing it writes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from claude_proxy.requestlog import masking

_pieces = st.sampled_from(["sk-", "pk-", "rk-", "SK-", "eyJ", "EYj", "Bearer ", "bearer ", "bEaReR  ", "abcdefghijkl",
                           "0123456789", "_-.~+/=", ".", " ", "\u212a-", "\u017fk-", "\u0130", "caf\u00e9", "\udcff",
                           "K"])
_values = st.lists(_pieces | st.text(max_size=6), max_size=8).map("".join)
_names = st.sampled_from(["x-api-key", "X-Api-Key", "Authorization", "cookie", "x-note", "X-Note", "request-id",
                          "x-session_id", "api_key", "content-type", "Content-Type", "x-tokens"]) | st.text(max_size=8)


@settings(max_examples=2000, deadline=None)
@given(_values)
def test_the_prefilter_never_skips_a_value_the_pattern_matches(value: str) -> None:
    if not masking._may_hold_key(value):
        assert masking._KEYLIKE.search(value) is None, value


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(_names, _values), max_size=8))
def test_mask_headers_json_is_json_dumps_of_mask_headers(pairs: list[tuple[str, str]]) -> None:
    headers = dict(pairs)
    masked, secrets = masking.mask_headers(headers)
    expected = (json.dumps(masked), secrets)
    assert masking.mask_headers_json(headers) == expected
    assert masking.mask_headers_json(headers) == expected  # from the cache this time


def test_the_cache_stays_bounded() -> None:
    for n in range(masking.MEMBERS_CACHED + 10):
        masking.mask_headers_json({"request-id": f"req_{n}"})
    assert len(masking._MEMBERS) <= masking.MEMBERS_CACHED


def _first(headers: dict[Any, Any], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return ""


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["Content-Type", "content-type", "CONTENT-ENCODING", "Content-Encoding",
                                           "x-api-key", "date"]) | st.text(max_size=4), _values), max_size=6))
def test_the_content_headers_come_from_the_same_pass(pairs: list[tuple[str, str]]) -> None:
    headers = dict(pairs)
    text, secrets, content = masking.mask_response_headers_json(headers)
    assert (text, secrets) == masking.mask_headers_json(headers)
    assert content == (_first(headers, "content-encoding"), _first(headers, "content-type"))


def test_names_that_are_not_strings_leave_the_lookup_to_the_caller() -> None:
    for headers in ({1: "x", "content-type": "a"}, {b"content-type": "a"}, {None: "n"}):
        text, secrets, content = masking.mask_response_headers_json(headers)  # type: ignore[arg-type]
        masked, expected_secrets = masking.mask_headers(headers)  # type: ignore[arg-type]
        assert (text, secrets, content) == (json.dumps(masked), expected_secrets, None)
    values = {"x-n": 1, "x-one": 1.0, "x-true": True, "x-list": ["unhashable"]}
    for _ in range(2):
        expected = (json.dumps(masking.mask_headers(values)[0]), [])  # type: ignore[arg-type]
        assert masking.mask_headers_json(values) == expected  # type: ignore[arg-type]


@given(st.text())
def test_a_member_is_json_dumps_of_the_masked_pair(value: str) -> None:
    """The member text joins json.dumps of the name and the masked value (ASCII, escaped)."""
    masked, _ = masking.mask_headers({"X-Note": value})
    assert masking._member("X-Note", value)[1] == f"{json.dumps('x-note')}: {json.dumps(masked['x-note'])}"
