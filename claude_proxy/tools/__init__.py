"""The local tools the model may call, and the guard in front of them.

- ``base``: the contract: `ToolContext`, `ToolResult`, `Decision`, the `Tool` base class.
- ``registry``: every tool by name, and `run_tool`, the one way to run a call.
- ``validation``: a call's input checked against the tool's JSON schema.
- ``workspace``: what every file tool shares: opening through the guard (I/O through
  the directory fd it checked, never by name), read-before-write bookkeeping, atomic
  writes.
- The tools: ``files`` (Read, LS), ``edit`` (Write, Edit, MultiEdit), ``search`` (Glob,
  Grep; ``grepengine`` and ``walk`` (a walk through directory fds) under it), ``shell`` (Bash), ``web`` (WebFetch, with
  ``netpolicy``), ``websearch`` (WebSearch), ``todo``, ``notebook``.
- ``guard/``: paths, commands, permission modes and the bubblewrap sandbox.
"""
