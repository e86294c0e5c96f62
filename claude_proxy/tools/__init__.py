"""The local tools the model may call, and the guard in front of them.

- ``base``: the contract: `ToolContext`, `ToolResult`, `Decision`, the `Tool` base class.
- ``registry``: every tool by name, and `run_tool`, the one way to run a call.
- ``validation``: a call's input checked against the tool's JSON schema.
- ``workspace``: what every file tool shares: path resolution through the guard,
  read-before-write bookkeeping, atomic writes.
- The tools: ``files`` (Read, LS), ``edit`` (Write, Edit, MultiEdit), ``search`` (Glob,
  Grep; ``grepengine`` and ``walk`` under it), ``shell`` (Bash), ``web`` (WebFetch, with
  ``netpolicy``), ``websearch`` (WebSearch), ``todo``, ``notebook``.
- ``guard/``: paths, commands, permission modes and the bubblewrap sandbox.
"""
