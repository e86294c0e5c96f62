"""The request log: every exchange through ``serve``, kept as one SQLite row and read back.

The proxy, the ``logs`` commands and any viewer use this package; it knows nothing of them.

Writing (what ``serve`` uses):

- ``entry``: `LogEntry` (one exchange as the proxy saw it), `new_entry_id`, and the
  `RequestLog` protocol every log implements (``record``, ``start``, ``close``,
  ``healthy``, ``queue_depth``).
- ``config``: `LogConfig`, the file and the ``log:`` settings' limits, shared by both logs.
- ``capture``: a bounded copy of a streamed body (head and tail) for an entry.
- ``process``: `ProcessRequestLog`, the log ``serve`` runs: entries go down a pipe to a
  child process, so row building never costs the serving process; it restarts a child
  that dies and bounds the drain at shutdown.
- ``childproc``: one run of that child as the proxy sees it (start, counters, exit).
- ``wire``: the frames the proxy and that child exchange.
- ``child``: the child's main (``python -m claude_proxy.requestlog.child``).
- ``filecheck``: can the file be written, and is it still the file that was opened.
- ``writer``: `SqliteRequestLog`, a writer thread inserting batches (what the child runs);
  bodies go through ``store`` (content-addressed, compressed, sessions threaded, indexed).

Turning an entry into a row:

- ``row``: the column values of one entry (masked, cut, assembled).
- ``masking``: secrets out of headers, query strings and bodies (names from `claude_proxy.secrets`).
- ``facts``: what else a row keeps: the session header, the key, rate-limit headers, 1-hour cache writes.
- ``assemble``: a logged response (JSON or SSE) back into one Anthropic message.
- ``sse``: splitting a logged event stream into events.
- ``jsontext``: JSON text exactly as the json module writes it, at less cost.
- ``schema``: the SQLite schema and its versioned migrations.

Storing and reading (the trace store, its own map in ``store/__init__``):

- ``store``: deduplicated bodies, sessions, search, retention, and `TraceStore`, the one
  interface the ``logs`` commands and the viewer read through, on SQLite or PostgreSQL
  (``pglog`` writes it there); ``store.targets`` opens the one a file or URL names.
- ``query``: the SQL underneath SQLite reads: list, find, follow rows; filters.
- ``view``: one row in a terminal; ``tables``: the list, sessions, search and stats tables,
  fitted to the terminal's width.
- ``viewer``: the web viewer (``/ui`` under ``serve``, ``logs ui``, ``logs export --html``).
"""
