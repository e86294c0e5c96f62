"""Through a real proxy to the trace store: a Claude Code session's rows, its rate limits and upstream errors."""

from __future__ import annotations

import anthropic
import pytest

from claude_proxy.requestlog.store.protocol import Filters
from claude_proxy.requestlog.store.sqlite import SqliteTraceStore
from claude_proxy.requestlog.writer import SqliteRequestLog
from tests.requestlog.conftest import read_rows
from tests.support.fake_anthropic import Reply

pytestmark = [pytest.mark.processes, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
SESSION = "0d6b8a52-3333-4f1e-a2b3-c4d5e6f7a8b9"
LIMITS = {"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "48",
          "anthropic-ratelimit-tokens-remaining": "39000", "anthropic-ratelimit-unified-status": "allowed"}


async def test_a_session_through_the_proxy(start_proxy, make_settings, fake_upstream, tmp_path):
    db = tmp_path / "requests.db"
    fake_upstream.enqueue(Reply.fixture("anthropic-response-message-text.json", headers=LIMITS),
                          Reply.fixture("anthropic-stream-tool-use.sse", headers=LIMITS),
                          Reply.fixture("anthropic-error-overloaded.json", status=529))
    server = await start_proxy(make_settings(), SqliteRequestLog(db))
    headers = {"x-claude-code-session-id": SESSION}
    first = [{"role": "user", "content": "What is the weather like in San Francisco?"}]
    async with anthropic.AsyncAnthropic(base_url=server.url, api_key="sk-ant-api03-e2eKEY-0000WXYZ", max_retries=0,
                                        default_headers=headers) as sdk:
        reply = await sdk.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=first)
        second = first + [{"role": "assistant", "content": reply.content[0].text},
                          {"role": "user", "content": "And tomorrow?"}]
        async with sdk.messages.stream(model="claude-sonnet-4-5", max_tokens=64, messages=second) as stream:
            await stream.get_final_message()
        with pytest.raises(anthropic.APIStatusError):
            await sdk.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=second)
    await server.stop()

    rows = read_rows(db)
    assert [r["session_id"] for r in rows] == [SESSION] * 3
    assert all(SESSION in r["request_headers"] for r in rows), "the session header is not masked"
    assert '"requests-remaining": "48"' in rows[0]["ratelimit"] and rows[1]["ratelimit"]
    assert rows[2]["status"] == 529 and rows[2]["error"] == "overloaded_error: Overloaded"
    assert rows[1]["request_body"].startswith('{"max_tokens":64') and "And tomorrow?" in rows[1]["request_body"]
    store = SqliteTraceStore(db)
    try:
        (session,) = store.sessions(Filters())
        assert session["requests"] == 3 and session["errors"] == 1 and session["cost_usd"] > 0
        assert session["first_prompt"] == "What is the weather like in San Francisco?"
        # indexed once, where it first appeared: the retry that failed adds no new words
        assert [r["id"] for r in store.search("tomorrow", Filters())] == [rows[1]["id"]]
    finally:
        store.close()
