"""Small statistics helpers (nearest-rank percentiles, medians) used by every section."""

from __future__ import annotations

import statistics
from typing import Iterable


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    data = sorted(values)
    if not data:
        return None
    rank = max(1, min(len(data), -(-len(data) * q // 100)))
    return data[int(rank) - 1]


def median(values: Iterable[float]) -> float | None:
    data = [v for v in values if v is not None]
    return statistics.median(data) if data else None


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{suffix}"


def mb(value: int | float | None) -> str:
    return "-" if value is None else f"{value / 1024 / 1024:.1f} MB"
