"""`claude-proxy chat`: the terminal agent and its one-shot mode.

- ``runtime``: wires one run together (settings, ``client``, tools, guard, ``sessions``).
- ``loop``: the agent loop (stream a reply, run its tool calls, repeat); ``toolrun`` runs
  one message's calls through the guard; ``conversation`` keeps the history valid.
- ``ui``: what the loop tells its front end. Front ends: ``repl`` (with ``render`` and
  ``commands``) and ``oneshot`` (``chat -p``).
- ``prompt``: the system prompt and request body; ``claude_proxy.pricing``: tokens and cost;
  ``rules``: remembering "always" answers; ``subagent``: the Task tool;
  ``transcript``: ``/save``.
"""
