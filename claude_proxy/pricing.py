"""One price table, so `chat`'s ``/cost`` and the request log's cost columns agree.

Prices are list prices in US dollars per million tokens: input, output, cache writes
(5-minute and 1-hour) and cache reads. The built-in table covers current Anthropic
models by name prefix; the ``prices:`` settings override and extend it (exact names or
globs, checked first), which is how a routed OpenAI-compatible model gets a price. A
model found nowhere has no estimate rather than a wrong one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any, Mapping


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens of each kind."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float

    @classmethod
    def from_input(cls, input: float, output: float, **given: float) -> Price:
        """A price with Anthropic's cache multipliers filling what is not given (1.25x, 2x, 0.1x input)."""
        return cls(input, output, given.get("cache_write_5m", input * 1.25),
                   given.get("cache_write_1h", input * 2), given.get("cache_read", input * 0.1))


# (name prefix, price) for current Anthropic models; the first matching prefix wins.
BUILT_IN: tuple[tuple[str, Price], ...] = (
    ("claude-opus-4-6", Price.from_input(5.0, 25.0)),
    ("claude-opus-4-5", Price.from_input(5.0, 25.0)),
    ("claude-opus-4", Price.from_input(15.0, 75.0)),
    ("claude-3-opus", Price.from_input(15.0, 75.0)),
    ("claude-sonnet-", Price.from_input(3.0, 15.0)),
    ("claude-3-7-sonnet", Price.from_input(3.0, 15.0)),
    ("claude-3-5-sonnet", Price.from_input(3.0, 15.0)),
    ("claude-haiku-4", Price.from_input(1.0, 5.0)),
    ("claude-3-5-haiku", Price.from_input(0.80, 4.0)),
    ("claude-3-haiku", Price(0.25, 1.25, 0.30, 0.50, 0.03)),
)


class PriceTable:
    """The built-in prices under the settings' own (exact names, then globs in file order)."""

    def __init__(self, overrides: Mapping[str, Price] | None = None) -> None:
        self.overrides = dict(overrides or {})

    @classmethod
    def from_settings(cls, prices: Mapping[str, Any] | None) -> PriceTable:
        """A table from the ``prices:`` section: name -> {input, output[, cache_write_5m, ...]}."""
        table: dict[str, Price] = {}
        for name, spec in (prices or {}).items():
            values = spec if isinstance(spec, Mapping) else spec.model_dump(exclude_none=True)
            values = {k: float(v) for k, v in values.items() if v is not None}
            table[name] = Price.from_input(values.pop("input"), values.pop("output"), **values)
        return cls(table)

    def price(self, model: str | None) -> Price | None:
        """The price of ``model``, or None when neither the settings nor the built-ins know it."""
        if not model:
            return None
        if model in self.overrides:
            return self.overrides[model]
        for pattern, price in self.overrides.items():
            if fnmatchcase(model, pattern):
                return price
        return _built_in(model)

    def cost(self, model: str | None, input_tokens: int | None = 0, output_tokens: int | None = 0,
             cache_read: int | None = 0, cache_write: int | None = 0, cache_write_1h: int | None = 0) -> float | None:
        """Dollars for one request's usage; ``cache_write`` is every cache write, ``cache_write_1h`` its 1-hour part."""
        price = self.price(model)
        if price is None:
            return None
        long_writes = min(cache_write_1h or 0, cache_write or 0)
        total = ((input_tokens or 0) * price.input + (output_tokens or 0) * price.output
                 + ((cache_write or 0) - long_writes) * price.cache_write_5m + long_writes * price.cache_write_1h
                 + (cache_read or 0) * price.cache_read)
        return total / 1_000_000


@lru_cache(maxsize=256)
def _built_in(model: str) -> Price | None:
    for prefix, price in BUILT_IN:
        if model.startswith(prefix):
            return price
    return None


DEFAULT = PriceTable()


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


def price_for(model: str, table: PriceTable = DEFAULT) -> tuple[float, float, float, float] | None:
    """The (input, output, 5-minute cache write, cache read) prices of a model, or None when unknown."""
    price = table.price(model)
    return None if price is None else (price.input, price.output, price.cache_write_5m, price.cache_read)


def estimate_cost(model: str, usage: Usage, table: PriceTable = DEFAULT) -> float | None:
    """Estimated US dollars for ``usage`` on ``model`` (cache writes at the 5-minute price)."""
    return table.cost(model, usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens,
                      usage.cache_creation_input_tokens)


class CostTracker:
    """Usage per model for a whole session, with a total price estimate."""

    def __init__(self, table: PriceTable = DEFAULT) -> None:
        self.by_model: dict[str, Usage] = {}
        self.table = table

    def record(self, model: str, usage: Usage) -> None:
        self.by_model.setdefault(model, Usage()).add(usage)

    @property
    def total(self) -> Usage:
        total = Usage()
        for usage in self.by_model.values():
            total.add(usage)
        return total

    def cost(self, table: PriceTable | None = None) -> float | None:
        """The summed estimate (by ``table``, else this tracker's); None when a model used has no known price."""
        costs = [estimate_cost(m, u, table or self.table) for m, u in self.by_model.items()]
        if any(c is None for c in costs):
            return None
        return sum(c for c in costs if c is not None)

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {m: u.to_dict() for m, u in self.by_model.items()}

    def since(self, earlier: dict[str, dict[str, int]]) -> "CostTracker":
        """What was used after ``earlier`` (a `to_dict` snapshot): one run's share of a resumed session."""
        delta = CostTracker(self.table)
        for model, usage in self.by_model.items():
            before = Usage.from_api(earlier.get(model))
            delta.by_model[model] = Usage(
                usage.input_tokens - before.input_tokens, usage.output_tokens - before.output_tokens,
                usage.cache_creation_input_tokens - before.cache_creation_input_tokens,
                usage.cache_read_input_tokens - before.cache_read_input_tokens)
        return delta

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, int]] | None, table: PriceTable = DEFAULT) -> "CostTracker":
        tracker = cls(table)
        for model, usage in (data or {}).items():
            tracker.by_model[model] = Usage.from_api(usage)
        return tracker
