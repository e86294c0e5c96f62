"""The trace store: how rows keep their bodies (deduplicated, compressed) and how they are read back.

- ``content``: a body split into skeleton, system, tools and messages; names (BLAKE2b),
  zstd packing, recipes and the byte-exact rebuild (pure functions, for any backend).
- ``threads``: which session, conversation and spawning request a row belongs to.
- ``protocol``: `TraceStore` (what the ``logs`` commands and a viewer read through),
  `TraceMaintenance` (retention), `Filters`, `PruneResult`.
- ``writing``: `SqliteStoreWriter`, the writer thread's content, session and search-index side.
- ``sqlite``: `SqliteTraceStore`, the `TraceStore` of a SQLite file (any schema version), with cost.
- ``retention``: `SqliteRetention`, pruning by age and size without holding the lock for long.
"""
