"""`claude-proxy chat`: the terminal agent and its one-shot mode.

- ``runtime``: wires one run together (settings, ``client``, tools, guard, ``sessions``,
  MCP servers through ``claude_proxy.mcp.session``). ``client`` resolves where to talk to and
  builds the lean Messages client of ``api`` (the SDK's wire behaviour without its import time).
- ``loop``: the agent loop (stream a reply, run its tool calls, repeat); ``toolrun`` runs
  one message's calls through the guard; ``conversation`` keeps the history valid.
- ``ui``: what the loop tells its front end. Front ends: ``repl`` (with ``render``,
  ``progress`` for spinners and timers, and ``commands``) and ``oneshot`` (``chat -p``,
  with ``events``: Claude Code's JSON shapes, and ``interrupt``: SIGINT with bounded waits).
- ``prompt``: the system prompt and request body; ``memory``: CLAUDE.md and friends;
  ``compact``: the history as a summary (``/compact`` and automatic);
  ``claude_proxy.pricing``: tokens and cost; ``rules``: remembering "always" answers (the narrowest
  rule); ``subagent``: the Task tool; ``transcript``: ``/save``.
"""
