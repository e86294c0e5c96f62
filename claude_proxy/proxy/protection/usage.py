"""Token usage picked out of a finished response, cheaply, for the metrics.

A JSON message carries one ``usage`` object; a stream carries one in
``message_start`` and a cumulative one in ``message_delta``; the largest value of
each count wins. Only the count fields are matched (a quote escaped inside a
string cannot match), so nothing is JSON-parsed on the event loop.
"""

from __future__ import annotations

import re

USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
# No lookbehind: a pattern that starts with a literal quote lets the engine skip ahead to quotes
# (four times faster); a match right after a backslash is an escaped quote inside a string, skipped.
_COUNT = re.compile(rb'"(' + "|".join(USAGE_FIELDS).encode() + rb')"\s*:\s*(\d+)')
_BACKSLASH = 0x5C


def extract_usage(body: bytes) -> dict[str, int]:
    """Token counts found in a Messages response or SSE stream; empty when there are none."""
    totals: dict[str, int] = {}
    for match in _COUNT.finditer(body):
        start = match.start()
        if start and body[start - 1] == _BACKSLASH:
            continue
        name, value = match.groups()
        key = name.decode()
        count = int(value)
        if count > totals.get(key, -1):
            totals[key] = count
    return totals
