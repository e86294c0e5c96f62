"""``claude-proxy mcp``: our tools over stdio, behind the same guard and sandbox as ``chat``.

Every ``tools/call`` is judged by the guard built from the same settings, permission
rules and mode as a chat session; Bash runs in the same bubblewrap sandbox. When the
guard says *ask*, the question goes to the client as an MCP elicitation (a form with
one ``decision`` field: ``yes``, ``always`` or ``no``) if the client declared that it
supports elicitation: on a 2026-07-28 connection as an ``InputRequiredResult`` whose
answer must come back with the ``request_state`` we issued for that exact call, on an
older one as an ``elicitation/create`` request. Without that support, or when the
question cannot be asked, the call is denied with the reason. "always" remembers the
guard's narrowest rule for the rest of the server's life, as in chat.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
from collections import OrderedDict
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from claude_proxy import __version__
from claude_proxy.mcp.content import to_mcp_content
from claude_proxy.settings import Settings
from claude_proxy.tools import registry
from claude_proxy.tools.base import Decision, Tool
from claude_proxy.tools.guard import Guard

log = logging.getLogger(__name__)

ASK_KEY = "permission"
ASK_TIMEOUT = 600.0
MAX_PENDING = 100
ASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"decision": {
        "type": "string", "enum": ["yes", "always", "no"],
        "description": "yes: run this call; always: also allow calls like it from now on; no: refuse it",
    }},
    "required": ["decision"],
}


def _fingerprint(name: str, arguments: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([name, arguments], sort_keys=True, default=str).encode()).hexdigest()


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


class ToolServer:
    """Our tools for one MCP client: listed, judged by the guard, asked about, run."""

    def __init__(self, settings: Settings, cwd: Path, mode: str | None = None) -> None:
        self.guard = Guard(settings, mode)
        self.context = registry.new_context(cwd, settings)
        self.tools = {tool.name: tool for tool in registry.all_tools()}
        self._pending: OrderedDict[str, str] = OrderedDict()
        self.server: Server[Any] = Server("claude-proxy", version=__version__, on_list_tools=self.list_tools,
                                          on_call_tool=self.call_tool)

    async def list_tools(self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                         ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[
            types.Tool(name=tool.name, description=tool.description, input_schema=tool.input_schema,
                       annotations=types.ToolAnnotations(read_only_hint=tool.read_only))
            for tool in self.tools.values()])

    async def call_tool(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
                        ) -> types.CallToolResult | types.InputRequiredResult:
        tool = self.tools.get(params.name)
        if tool is None:
            return _error(f"unknown tool: {params.name}")
        arguments = dict(params.arguments or {})
        decision = await self._decide(tool, arguments)
        if decision.behavior == "ask":
            asked = await self._ask(ctx, params, tool, arguments, decision)
            if isinstance(asked, types.InputRequiredResult):
                return asked
            decision = asked
        if decision.behavior != "allow":
            return _error(f"Permission denied: {decision.reason or 'denied by the rules'}")
        result = await registry.run_tool(tool.name, arguments, self.context)
        return types.CallToolResult(content=list(to_mcp_content(result)), is_error=result.is_error)

    async def _decide(self, tool: Tool, arguments: dict[str, Any]) -> Decision:
        try:
            decision = await self.guard.decide_async(tool, arguments, self.context)
        except Exception as exc:  # the guard is a safety boundary: any failure denies
            log.debug("guard failed on %s", tool.name, exc_info=True)
            return Decision("deny", f"the permission check failed ({type(exc).__name__}: {exc})")
        if decision.behavior not in ("allow", "ask", "deny"):
            return Decision("deny", f"the permission check returned {decision.behavior!r}")
        return decision

    async def _ask(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams, tool: Tool,
                   arguments: dict[str, Any], decision: Decision) -> Decision | types.InputRequiredResult:
        capabilities = ctx.session.client_capabilities
        if capabilities is None or capabilities.elicitation is None:
            return Decision("deny", f"{decision.reason}; this MCP client cannot ask the user (it did not declare "
                                    "elicitation support), so calls that need approval are denied: allow them "
                                    "with a permission rule or --permission-mode")
        message = f"Allow {tool.summary(arguments)}? The guard asks because: {decision.reason}"
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return self._ask_by_input_required(params, tool, arguments, message)
        try:
            answer = await asyncio.wait_for(
                ctx.session.elicit_form(message, ASK_SCHEMA, related_request_id=ctx.request_id), ASK_TIMEOUT)
        except (MCPError, TimeoutError) as exc:
            return Decision("deny", f"{decision.reason}; the question could not be asked ({exc or 'timed out'})")
        return self._answered(answer, tool, arguments)

    def _ask_by_input_required(self, params: types.CallToolRequestParams, tool: Tool, arguments: dict[str, Any],
                               message: str) -> Decision | types.InputRequiredResult:
        fingerprint = _fingerprint(tool.name, arguments)
        if params.request_state is not None:
            expected = self._pending.pop(params.request_state, None)
            answer = (params.input_responses or {}).get(ASK_KEY)
            if expected != fingerprint or not isinstance(answer, types.ElicitResult):
                return Decision("deny", "the permission answer does not belong to this call")
            return self._answered(answer, tool, arguments)
        token = secrets.token_urlsafe(24)
        self._pending[token] = fingerprint
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        request = types.ElicitRequest(params=types.ElicitRequestFormParams(message=message,
                                                                           requested_schema=ASK_SCHEMA))
        return types.InputRequiredResult(input_requests={ASK_KEY: request}, request_state=token)

    def _answered(self, answer: types.ElicitResult, tool: Tool, arguments: dict[str, Any]) -> Decision:
        choice = (answer.content or {}).get("decision") if answer.action == "accept" else None
        if choice not in ("yes", "always"):
            return Decision("deny", "the user denied this call; do not retry it, ask the user what to do instead")
        if choice == "always":
            for rule in self.guard.suggest_rules(tool, arguments, self.context):
                try:
                    self.guard.remember(rule, self.context)
                except ValueError as exc:
                    log.debug("cannot remember rule %s: %s", rule, exc)
        return Decision("allow", "allowed by the user")


async def serve_stdio(settings: Settings, cwd: Path, mode: str | None = None) -> None:
    """Serve our tools on stdin/stdout until the client closes them."""
    from mcp.server.stdio import stdio_server

    tools = ToolServer(settings, cwd, mode)
    async with stdio_server() as (read_stream, write_stream):
        await tools.server.run(read_stream, write_stream, tools.server.create_initialization_options())
