"""What a row records beyond the bytes: rate-limit headers, the upstream's error, the key, 1-hour cache writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claude_proxy.requestlog.store.sqlite import SqliteTraceStore
from tests.requestlog.conftest import make_entry, read_rows, write_entries

LIMITS = {
    "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "49",
    "anthropic-ratelimit-requests-reset": "2026-12-03T09:00:01Z",
    "anthropic-ratelimit-tokens-limit": "40000", "anthropic-ratelimit-tokens-remaining": "39000",
    "anthropic-ratelimit-input-tokens-remaining": "30000", "anthropic-ratelimit-output-tokens-remaining": "8000",
    "anthropic-ratelimit-unified-5h-utilization": "0.42", "anthropic-ratelimit-unified-status": "allowed",
}


def test_rate_limit_headers_are_recorded(db: Path) -> None:
    entry = make_entry(response_headers={"content-type": "application/json", "request-id": "req_1", **LIMITS})
    write_entries(db, [entry])
    (row,) = read_rows(db)
    limits = json.loads(row["ratelimit"])
    assert limits["requests-remaining"] == "49" and limits["tokens-limit"] == "40000"
    assert limits["unified-5h-utilization"] == "0.42" and limits["unified-status"] == "allowed"
    assert limits["output-tokens-remaining"] == "8000"


@pytest.mark.parametrize(("status", "kind", "message"), [
    (529, "overloaded_error", "Overloaded"),
    (401, "authentication_error", "invalid x-api-key"),
    (400, "invalid_request_error", "messages: at least one message is required"),
])
def test_the_upstream_error_type_and_message_are_stored(db: Path, status: int, kind: str, message: str) -> None:
    body = json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
    write_entries(db, [make_entry(status=status, response_body=body)])
    (row,) = read_rows(db)
    assert row["error"] == f"{kind}: {message}"


def test_a_stream_that_ends_in_an_error_event_stores_it(db: Path, fixtures_dir: Path) -> None:
    write_entries(db, [make_entry(fixtures_dir, "anthropic-event-error-overloaded.sse")])
    (row,) = read_rows(db)
    assert row["error"] and "overloaded_error" in row["error"]


def test_key_hint_and_one_hour_cache_writes_price_the_row(db: Path) -> None:
    usage = {"input_tokens": 1000, "output_tokens": 100, "cache_read_input_tokens": 0,
             "cache_creation_input_tokens": 1000,
             "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1000}}
    reply = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-opus-4-5",
             "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "usage": usage}
    entry = make_entry(response_body=json.dumps(reply).encode())
    write_entries(db, [entry])
    store = SqliteTraceStore(db)
    try:
        row = store.row(entry.id)
    finally:
        store.close()
    assert row["api_key"] == "****WXYZ" and row["cache_creation_1h_tokens"] == 1000
    # Opus 4.5: $5 in, $25 out, 1-hour writes at $10 per million tokens
    assert row["cost_usd"] == pytest.approx((1000 * 5 + 100 * 25 + 1000 * 10) / 1e6)


def test_stats_show_the_latest_rate_limit_headroom(db: Path) -> None:
    from rich.console import Console

    from claude_proxy.requestlog.store.protocol import Filters
    from claude_proxy.requestlog.tables import stats_view

    older = {**LIMITS, "anthropic-ratelimit-requests-remaining": "10"}
    write_entries(db, [make_entry(started_at=1_780_000_000.0, response_headers=older),
                       make_entry(started_at=1_780_000_060.0, response_headers=LIMITS),
                       make_entry(started_at=1_780_000_120.0)])
    store = SqliteTraceStore(db)
    try:
        data = store.stats(Filters())
    finally:
        store.close()
    assert data["ratelimit"]["headers"]["requests-remaining"] == "49"
    console = Console(width=80, record=True, color_system=None)
    console.print(stats_view(data, 80))
    shown = console.export_text()
    assert "rate limits at" in shown and "requests 49/50" in shown and "unified-5h-utilization 0.42" in shown
