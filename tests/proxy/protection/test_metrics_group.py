"""`serve --workers 2` answers one `/metrics` for the group: its request counter equals the requests sent,
whichever worker the scrape lands on."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


def _requests_total(text: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == "claude_proxy_requests":
            return sum(s.value for s in family.samples if s.name == "claude_proxy_requests_total")
    return 0.0


def _gauge(text: str, name: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return family.samples[0].value
    raise AssertionError(f"{name} missing")


@pytest.mark.processes
async def test_workers_serve_one_summed_metrics(serve_process, fake_upstream) -> None:
    proxy = await serve_process("--upstream", fake_upstream.url, "--workers", "2", "--no-log")
    sent = 40
    # a new connection per request, so the kernel spreads them over both workers
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        for _ in range(sent):
            async with session.post(proxy.url + "/v1/messages", json=BODY,
                                    headers={"x-api-key": "sk-ant-test-0001"}) as resp:
                assert resp.status == 200
        seen = []
        for _ in range(6):
            async with session.get(proxy.url + "/metrics") as resp:
                assert resp.status == 200
                text = await resp.text()
            seen.append(_requests_total(text))
            assert _gauge(text, "claude_proxy_metrics_workers_missing") == 0
    assert seen == [sent] * 6
