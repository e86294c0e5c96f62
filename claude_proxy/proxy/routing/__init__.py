"""Model routing (settings ``backends:`` and ``routes:``): which backend answers a request.

- ``routes``: `Router`, pure: a model name (and, for scenario rules, the body) -> a `Route`.
- ``dispatch``: `Routing`, the proxy's side: adjusts a request for an ``anthropic`` backend,
  hands it to ``openai`` for an OpenAI-compatible one, answers ``/v1/models``.
- ``openai``: `OpenAIRelay`, serving an Anthropic request from an OpenAI-compatible backend
  through ``claude_proxy.proxy.translate`` and the same upstream client as pass-through.

Nothing here runs when no route is configured: the pass-through stays byte-exact.
"""
