"""Routing tests run against the fake OpenAI-compatible backend of the translation tests."""

from tests.proxy.translate.conftest import fake_openai, routed_settings  # noqa: F401  (fixtures)
