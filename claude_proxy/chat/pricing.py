"""Token usage and an estimated price, so `/cost` and the JSON output can say what a session cost.

Prices are list prices in US dollars per million tokens; cache writes are the 5-minute
write price. A model not in the table has no estimate rather than a wrong one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# (prefix, input, output, cache write, cache read) per million tokens; first match wins.
PRICES: tuple[tuple[str, float, float, float, float], ...] = (
    ("claude-opus-4-5", 5.0, 25.0, 6.25, 0.50),
    ("claude-opus-4", 15.0, 75.0, 18.75, 1.50),
    ("claude-3-opus", 15.0, 75.0, 18.75, 1.50),
    ("claude-sonnet-", 3.0, 15.0, 3.75, 0.30),
    ("claude-3-7-sonnet", 3.0, 15.0, 3.75, 0.30),
    ("claude-3-5-sonnet", 3.0, 15.0, 3.75, 0.30),
    ("claude-haiku-4", 1.0, 5.0, 1.25, 0.10),
    ("claude-3-5-haiku", 0.80, 4.0, 1.0, 0.08),
    ("claude-3-haiku", 0.25, 1.25, 0.30, 0.03),
)


@dataclass
class Usage:
    """Token counts as the Messages API reports them, summable across requests."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def add(self, other: "Usage") -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_creation_input_tokens += other.cache_creation_input_tokens
        self.cache_read_input_tokens += other.cache_read_input_tokens

    @classmethod
    def from_api(cls, usage: Any) -> "Usage":
        """Read an SDK ``Usage`` object or a dict; missing or null counts are zero."""
        def get(name: str) -> int:
            value = usage.get(name) if isinstance(usage, dict) else getattr(usage, name, None)
            return int(value or 0)

        if usage is None:
            return cls()
        return cls(get("input_tokens"), get("output_tokens"),
                   get("cache_creation_input_tokens"), get("cache_read_input_tokens"))

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def price_for(model: str) -> tuple[float, float, float, float] | None:
    """The (input, output, cache write, cache read) prices of a model, or None when unknown."""
    for prefix, *prices in PRICES:
        if model.startswith(prefix):
            return prices[0], prices[1], prices[2], prices[3]
    return None


def estimate_cost(model: str, usage: Usage) -> float | None:
    """Estimated US dollars for ``usage`` on ``model``; None for a model without a known price."""
    prices = price_for(model)
    if prices is None:
        return None
    inp, out, write, read = prices
    total = (usage.input_tokens * inp + usage.output_tokens * out
             + usage.cache_creation_input_tokens * write + usage.cache_read_input_tokens * read)
    return total / 1_000_000


class CostTracker:
    """Usage per model for a whole session, with a total price estimate."""

    def __init__(self) -> None:
        self.by_model: dict[str, Usage] = {}

    def record(self, model: str, usage: Usage) -> None:
        self.by_model.setdefault(model, Usage()).add(usage)

    @property
    def total(self) -> Usage:
        total = Usage()
        for usage in self.by_model.values():
            total.add(usage)
        return total

    def cost(self) -> float | None:
        """The summed estimate; None when any model used has no known price."""
        costs = [estimate_cost(m, u) for m, u in self.by_model.items()]
        if any(c is None for c in costs):
            return None
        return sum(c for c in costs if c is not None)

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {m: u.to_dict() for m, u in self.by_model.items()}

    def since(self, earlier: dict[str, dict[str, int]]) -> "CostTracker":
        """What was used after ``earlier`` (a `to_dict` snapshot): one run's share of a resumed session."""
        delta = CostTracker()
        for model, usage in self.by_model.items():
            before = Usage.from_api(earlier.get(model))
            delta.by_model[model] = Usage(
                usage.input_tokens - before.input_tokens, usage.output_tokens - before.output_tokens,
                usage.cache_creation_input_tokens - before.cache_creation_input_tokens,
                usage.cache_read_input_tokens - before.cache_read_input_tokens)
        return delta

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, int]] | None) -> "CostTracker":
        tracker = cls()
        for model, usage in (data or {}).items():
            tracker.by_model[model] = Usage.from_api(usage)
        return tracker
