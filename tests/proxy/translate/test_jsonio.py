"""The translation path's JSON: fast, and accepting exactly what the standard library accepts."""

import json

import pytest

from claude_proxy.proxy.translate import jsonio


def test_round_trip_is_compact_utf8():
    value = {"model": "gpt", "text": "héllo 🌍", "n": [1, 2.5, None, True]}
    raw = jsonio.dumps(value)
    assert raw == json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert jsonio.loads(raw) == value
    assert jsonio.dumps_text(value) == raw.decode("utf-8")


def test_what_orjson_refuses_but_json_allows_still_parses_and_writes():
    huge = 2 ** 70  # a tool input may carry any integer
    assert jsonio.loads(f'{{"n": {huge}}}') == {"n": huge}
    assert jsonio.dumps({"n": huge}) == f'{{"n":{huge}}}'.encode()
    assert jsonio.loads('"\\ud800"') == "\ud800"  # a lone surrogate escape is valid JSON


def test_broken_json_raises_value_error():
    with pytest.raises(ValueError):
        jsonio.loads(b'{"model": ')
