"""The cached header masking writes exactly what masking a dict and json.dumps-ing it writes."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from claude_proxy.proxy import masking

_pieces = st.sampled_from(["sk-", "pk-", "rk-", "SK-", "eyJ", "EYj", "Bearer ", "bearer ", "bEaReR  ", "abcdefghijkl",
                           "0123456789", "_-.~+/=", ".", " ", "\u212a-", "\u017fk-", "\u0130", "caf\u00e9", "\udcff", "K"])
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
