"""Talking to upstreams: one client seam for every backend, and what to do when it fails.

- ``client``: `Upstream`, one base URL and its keep-alive pool; ``send`` returns the
  response once its head is in, or raises a `ProxyError` (502, 504) naming the host and
  the cause. Pass-through, anthropic backends and OpenAI-compatible backends all use it,
  so transport errors are mapped in one place.
- ``http1/``: the proxy's own HTTP/1.1 client under it (httptools parsing).
- ``retry``: the retry policy (the official SDKs' statuses, backoff and ``retry-after``).
- ``fallbacks``: walking a route's fallback chain when retries do not help.
"""
