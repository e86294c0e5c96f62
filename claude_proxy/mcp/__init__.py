"""MCP in both directions: other programs' tools for `chat`, and our tools for other agents.

- ``config``: which servers a session uses (the settings' ``mcp.servers`` and an
  approved project ``.mcp.json``), and the approvals kept per file path and content hash.
- ``content``: tool results across the boundary, cut to our output limit.
- ``client``: one supervised connection per server (start, health, restart with
  backoff, stop) and its tools as ours (`McpTool`, named ``mcp__server__tool``).
- ``session``: the MCP side of one chat session (what ``chat.runtime`` holds).
- ``server``: ``claude-proxy mcp``: our tools over stdio behind the guard and sandbox;
  permission questions become MCP elicitations.

The `mcp` SDK is imported only by ``client``, ``content`` and ``server``, which are
loaded only when MCP is used.
"""
