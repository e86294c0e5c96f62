"""The request log: every exchange through ``serve``, kept as one SQLite row and read back.

The proxy, the ``logs`` commands and any viewer use this package; it knows nothing of them.

Writing (what ``serve`` uses):

- ``entry``: `LogEntry` (one exchange as the proxy saw it), `new_entry_id`, and the
  `RequestLog` protocol every log implements (``record``, ``start``, ``close``,
  ``healthy``, ``queue_depth``).
- ``config``: `LogConfig`, the file and the ``log:`` settings' limits, shared by both logs.
- ``capture``: a bounded copy of a streamed body (head and tail) for an entry.
- ``process``: `ProcessRequestLog`, the log ``serve`` runs: entries go down a pipe to a
  child process, so row building never costs the serving process.
- ``wire``: the frames the proxy and that child exchange.
- ``child``: the child's main (``python -m claude_proxy.requestlog.child``).
- ``writer``: `SqliteRequestLog`, a writer thread inserting batches (what the child runs).

Turning an entry into a row:

- ``row``: the column values of one entry (masked, cut, assembled).
- ``masking``: secrets out of headers, query strings and bodies (names from `claude_proxy.secrets`).
- ``assemble``: a logged response (JSON or SSE) back into one Anthropic message.
- ``sse``: splitting a logged event stream into events.
- ``jsontext``: JSON text exactly as the json module writes it, at less cost.
- ``schema``: the SQLite schema and its versioned migrations.

Reading:

- ``query``: list, find, follow and summarise rows.
- ``view``: how rows look in a terminal (rich tables and panels).
- ``store``: the trace store (content stored once, sessions, search, retention), on SQLite or
  PostgreSQL (``pglog`` writes it there); ``store.targets`` opens the one a file or URL names.
"""
