"""Fixtures for translation tests: the proxy engineer's proxy fixtures plus a fake OpenAI backend.

- ``fake_openai``: a started `FakeOpenAI` (fake_openai.py) with ``.url`` (``http://127.0.0.1:PORT/v1``).
- ``routed_settings(routes=None, **backend_options)``: settings with the backend ``fake`` (kind openai,
  key ``sk-or-backend-5678``) and, by default, every model routed to it under its own name.
- ``fake_upstream``, ``make_settings``, ``start_proxy``, ``serve_process``: from tests/proxy/conftest.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from .fake_openai import FakeOpenAI

BACKEND_KEY = "sk-or-backend-5678"


@pytest.fixture
async def fake_openai(fixtures_dir: Path):
    fake = FakeOpenAI(fixtures_dir)
    runner = web.AppRunner(fake.app(), handler_cancellation=True, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    yield fake
    await runner.cleanup()


@pytest.fixture
def routed_settings(make_settings, fake_openai):
    def make(routes: dict[str, Any] | None = None, **backend: Any):
        spec = {"kind": "openai", "base_url": fake_openai.url, "api_key": BACKEND_KEY, **backend}
        return make_settings(backends={"fake": spec}, routes=routes or {"default": {"backend": "fake"}})
    return make
