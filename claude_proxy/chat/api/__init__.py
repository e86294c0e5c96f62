"""A lean Messages API client for chat: what chat needs of the SDK, at a fraction of its import time.

Importing the ``anthropic`` SDK costs seconds on a small machine; ``chat -p`` must send its
first request well before that. This package follows the SDK's wire behaviour for the calls
chat makes:

- ``client``: `MessagesClient` on aiohttp (``messages.stream`` / ``messages.create``): the SDK's headers
  (``x-stainless-*`` with the retry count, ``anthropic-version``), its retries (408/409/429/5xx
  and connection errors, exponential backoff with jitter, ``retry-after-ms`` / ``retry-after``,
  ``x-should-retry``) and a retry listener for the progress line.
- ``stream``: server-sent events into events and the final message (content blocks as dicts),
  an ``error`` event mid-stream raised as an `APIStatusError`.
- ``errors``: the SDK's error types and messages (authentication, permission, not found, rate
  limit, overloaded, connection errors naming the URL).
"""
