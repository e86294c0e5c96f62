"""Token usage picked out of a finished response, cheaply, for the metrics.

Only the ``"usage": {...}`` objects are parsed, not the whole body: a JSON
message carries one, a stream carries one in ``message_start`` and a cumulative
one in ``message_delta``; the largest value of each field wins.
"""

from __future__ import annotations

import json
import re

USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
_USAGE = re.compile(rb'"usage"\s*:\s*(\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\})')


def extract_usage(body: bytes) -> dict[str, int]:
    """Token counts found in a Messages response or SSE stream; empty when there are none."""
    totals: dict[str, int] = {}
    for match in _USAGE.finditer(body):
        try:
            usage = json.loads(match.group(1))
        except ValueError:
            continue
        for name in USAGE_FIELDS:
            value = usage.get(name)
            if isinstance(value, int) and value > totals.get(name, -1):
                totals[name] = value
    return totals
