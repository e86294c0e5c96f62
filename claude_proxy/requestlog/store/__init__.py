"""The trace store: request bodies stored once by content, rows grouped into sessions, read and pruned.

- ``protocol``: `TraceStore` (what the ``logs`` commands and the viewer read through),
  `TraceMaintenance` (retention), `Filters`, `PruneResult`.
- ``pieces``: splitting a body into a skeleton and pieces, matching a conversation's earlier messages whole (pure).
- ``content``: naming and compressing pieces, recipes, and rebuilding a body byte for byte (pure).
- ``naming``: a split request's piece names and conversation keys, carried on from its run (pure).
- ``threads``: which session and conversation a request belongs to (pure).
- ``writing``: preparing rows and inserting them into the SQLite file; ``pgwriting`` the same for Postgres.
- ``summary``: cost, session summaries, usage and search snippets, the same for every backend (pure).
- ``sqlite`` and ``retention``: reading and pruning the SQLite file.
- ``pgschema``, ``postgres`` and ``pgretention``: the Postgres tables, reading them, pruning them.
- ``targets``: `open_trace_store` / `open_maintenance`: a ``postgresql://`` URL or a file path to a store.
"""
