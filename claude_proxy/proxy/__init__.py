"""The gateway: an aiohttp app that speaks the Anthropic Messages API.

One request, outermost stage first:

- ``server`` runs one process (``workers``: N processes on one port, replaced when one dies);
  ``connections`` keeps client connections in check (header and keep-alive timeouts, a cap
  that closes never-used connections first, ``RLIMIT_NOFILE`` raised); ``accesslog`` writes
  the access line per request in batches; ``loopguard`` refuses an upstream that is the proxy itself.
- ``targets``: the outermost middleware; only origin-form targets without dot-segments pass.
- ``app`` is the one composition root: it builds `state.ProxyState` once from the settings
  and installs the routes (``health``, ``cors``, ``forward``) and the protection middleware.
- ``protection/``: the middleware around every ``/v1`` request: access keys, body limits,
  rate limits, the concurrency gate, metrics and readiness.
- ``forward``: the ``/v1`` handler: ``rewrite`` (with user ``hooks``) -> ``routing/`` (which
  backend, or a translated answer) -> ``resilience`` (retries and fallbacks through
  ``upstream/``) -> ``relay`` (the answer back, byte for byte).
- ``upstream/``: the one client seam to every backend: `upstream.Upstream` over the
  proxy's own HTTP/1.1 pool (``upstream/http1``), with one mapping of transport errors.
- ``translate/``: pure Anthropic <-> OpenAI chat-completions translation (no I/O).
- ``headers`` (what crosses, each way), ``errors`` (Anthropic-shaped errors) and ``jsonbody``
  (a client body parsed by a rule: a 400 when it cannot be, never a 500) are shared by all.

Each exchange is filled into one `claude_proxy.requestlog.entry.LogEntry` and handed to
the request log. Inner stages never reach outer ones: what they need is passed in.
"""
