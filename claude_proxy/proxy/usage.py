"""Token usage picked out of a finished response, cheaply, for the metrics.

A JSON message carries one ``usage`` object; a stream carries one in
``message_start`` and a cumulative one in ``message_delta``; the largest value of
each count wins. Only the count fields are matched (a quote escaped inside a
string cannot match), so nothing is JSON-parsed on the event loop.
"""

from __future__ import annotations

import re

USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
_COUNT = re.compile(rb'(?<!\\)"(' + "|".join(USAGE_FIELDS).encode() + rb')"\s*:\s*(\d+)')


def extract_usage(body: bytes) -> dict[str, int]:
    """Token counts found in a Messages response or SSE stream; empty when there are none."""
    totals: dict[str, int] = {}
    for name, value in _COUNT.findall(body):
        key = name.decode()
        count = int(value)
        if count > totals.get(key, -1):
            totals[key] = count
    return totals
