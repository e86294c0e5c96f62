"""The web viewer: the trace store as pages a person reads (``/ui`` under ``serve``, or ``logs ui``).

- ``app``: the aiohttp application, its routes, access check and the stand-alone server.
- ``pages``: one function per page, from a `TraceStore` to HTML (run in a thread).
- ``turns``: a session's rows as threads of turns (tool calls with their results, subagents linked).
- ``turndiff``: what changed between two requests of a thread, and where the prompt cache broke.
- ``markup``: template filters (Markdown with raw HTML off, numbers, times, diffs).
- ``charts``: inline SVG bars and gauges for the usage page.
- ``templates/`` and ``static/``: Jinja templates, one stylesheet, one small script for live updates.

Server-rendered, no build step, nothing fetched from elsewhere: the pages work offline,
and ``logs export --html`` writes the session page as one self-contained file.
"""
