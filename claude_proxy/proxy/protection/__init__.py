"""What protects the proxy and its upstream key: one middleware around every ``/v1`` request.

- ``middleware``: `Protection`, which admits or refuses each request (and logs a refusal
  as a row of its own), and serves ``/metrics`` and ``/health/ready``.
- ``access``: access keys (401) and the rule against listening unauthenticated off loopback.
- ``limits``: the body read under a size cap and a deadline (413, 408); the concurrency
  gate with its short queue (529).
- ``ratelimit``: per-key requests and input tokens per minute (429); ``buckets``: where the
  allowances live (memory, or a SQLite file shared by a host's processes).
- ``metrics``: the Prometheus metrics; ``usage``: token counts picked out of a response.
- ``readiness``: ``/health/ready``'s checks (upstream reachable, log healthy, queue depth).
"""
