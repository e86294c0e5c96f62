"""The one price table: built-in Anthropic prices, settings overrides and globs, cache-write split."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_proxy.pricing import DEFAULT, PriceTable, Usage, estimate_cost
from claude_proxy.settings import load_settings


def test_built_in_price_of_a_dated_model_name() -> None:
    price = DEFAULT.price("claude-sonnet-4-5-20250929")
    assert price is not None
    assert (price.input, price.output, price.cache_write_5m, price.cache_write_1h, price.cache_read) == pytest.approx(
        (3.0, 15.0, 3.75, 6.0, 0.3))
    assert DEFAULT.price("gpt-4o") is None


def test_one_hour_cache_writes_cost_twice_the_input_price() -> None:
    # 1M input, 1M output, 1M cache reads, 1M cache writes of which 400k for an hour, on Opus 4.5 ($5/$25)
    cost = DEFAULT.cost("claude-opus-4-5", 1_000_000, 1_000_000, 1_000_000, 1_000_000, 400_000)
    assert cost == pytest.approx(5 + 25 + 0.5 + 0.6 * 6.25 + 0.4 * 10)


def test_settings_override_and_extend_the_table(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text('prices:\n  "gpt-4o*": {input: 2.5, output: 10}\n'
                      '  claude-sonnet-4-5: {input: 1, output: 2, cache_read: 0}\n')
    table = PriceTable.from_settings(load_settings(config).prices)
    assert table.cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(12.5)
    assert table.cost("claude-sonnet-4-5", 0, 0, cache_read=1_000_000) == 0
    assert table.price("claude-sonnet-4-6") == DEFAULT.price("claude-sonnet-4-6")
    assert estimate_cost("gpt-4o", Usage(input_tokens=1_000_000), table) == pytest.approx(2.5)


def test_a_price_without_output_is_a_settings_error(tmp_path: Path) -> None:
    from claude_proxy.errors import SettingsError

    config = tmp_path / "settings.yaml"
    config.write_text("prices:\n  my-model: {input: 1}\n")
    with pytest.raises(SettingsError, match="output"):
        load_settings(config)
