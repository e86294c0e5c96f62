"""Running one assistant message's tool calls: guard, ask, run, answer in call order.

Consecutive read-only calls form one batch that runs concurrently; any other call runs
alone, after the calls before it. Each call is judged by the guard first (a guard that
fails denies: fail closed). Whatever happens, every call gets exactly one
``tool_result`` block, in the order the model made the calls. Failures are shown to the
user and told to the model, so they are logged at debug level only (a warning would
reach the terminal through logging's last-resort handler and break the display).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from claude_proxy.chat.rules import narrowest_rules
from claude_proxy.chat.ui import AgentUI, ToolCall
from claude_proxy.tools import registry
from claude_proxy.tools.base import Decision, Tool, ToolContext, ToolGuard, ToolResult

log = logging.getLogger(__name__)

PostHook = Callable[[ToolCall, ToolResult], Awaitable[ToolResult]]
INTERRUPTED = "Interrupted by the user: the call was stopped before it finished."


class ToolRunner:
    """Runs tool calls for one agent; knows the offered tools, the guard and the front end."""

    def __init__(self, tools: list[Tool], guard: ToolGuard, context: ToolContext, ui: AgentUI) -> None:
        self.tools = tools
        self.guard = guard
        self.context = context
        self.ui = ui
        self.post_hooks: dict[str, PostHook] = {}
        self._by_name: dict[str, Tool] = {}
        for tool in tools:
            for name in (tool.name, *tool.aliases):
                self._by_name.setdefault(name, tool)
        self._done: dict[str, dict[str, Any]] = {}

    def find(self, name: str) -> Tool | None:
        """An offered tool by name or alias (the registry also forgives the case)."""
        tool = self._by_name.get(name)
        if tool is None:
            known = registry.get_tool(name)
            tool = known if known in self.tools else None
        return tool

    async def run_calls(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Judge and run the calls; the ``tool_result`` blocks come back in call order."""
        self._done = {}
        calls = [ToolCall(b["id"], b["name"], b.get("input") or {}, self.find(b["name"])) for b in blocks]
        for batch in self._batches(calls):
            runnable = [call for call in batch if await self._admit(call)]
            if len(runnable) == 1:
                await self._run_one(runnable[0])
            elif runnable:
                await asyncio.gather(*(self._run_one(call) for call in runnable))
        return [self._done[call.id] for call in calls]

    def unrun(self, blocks: list[dict[str, Any]], reason: str) -> list[dict[str, Any]]:
        """Error results for calls that will not run (turn limit, truncated reply)."""
        return [ToolResult.error(reason).to_block(b["id"]) for b in blocks]

    def interrupted_results(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Results for an interrupted message: what finished keeps its result, the rest says why not."""
        return [self._done.get(b["id"]) or ToolResult.error(INTERRUPTED).to_block(b["id"]) for b in blocks]

    @staticmethod
    def _batches(calls: list[ToolCall]) -> list[list[ToolCall]]:
        batches: list[list[ToolCall]] = []
        for call in calls:
            read_only = call.tool is not None and call.tool.read_only
            if read_only and batches and all(c.tool is not None and c.tool.read_only for c in batches[-1]):
                batches[-1].append(call)
            else:
                batches.append([call])
        return batches

    def _finish(self, call: ToolCall, result: ToolResult) -> None:
        self._done[call.id] = result.to_block(call.id)
        self.ui.tool_result(call, result)

    async def _admit(self, call: ToolCall) -> bool:
        """Show the call, ask the guard (and maybe the user); record a result when it may not run."""
        self.ui.tool_call(call)
        if call.tool is None:
            self._finish(call, ToolResult.error(f"unknown tool: {call.name}"))
            return False
        decision = await self._decide(call, call.tool)
        call.decision = decision
        if decision.behavior == "allow":
            return True
        if decision.behavior == "ask":
            if self.ui.interactive:
                call.always_rules = await asyncio.to_thread(
                    narrowest_rules, self.guard, call.tool, call.input, self.context)
            answer = await self.ui.ask(call, decision)
            if answer == "always":
                await self._remember(call)
                return True
            if answer == "yes":
                return True
            if self.ui.interactive:
                reason = "The user denied this call. Do not retry it; ask the user what to do instead."
            else:
                reason = (f"Permission denied: {decision.reason or call.name + ' needs approval'}. "
                          "This run is non-interactive, so calls that need approval are denied; "
                          "the user can allow them with --allowed-tools or --permission-mode.")
            self._finish(call, ToolResult.error(reason))
            return False
        self._finish(call, ToolResult.error(f"Permission denied: {decision.reason or 'denied by the rules'}"))
        return False

    async def _decide(self, call: ToolCall, tool: Tool) -> Decision:
        """The guard's verdict, computed off the event loop (its validators touch the disk)."""
        decide_async = getattr(self.guard, "decide_async", None)
        try:
            if decide_async is not None:
                decision = await decide_async(tool, call.input, self.context)
            else:
                decision = self.guard.decide(tool, call.input, self.context)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the guard is a safety boundary: any failure denies
            log.debug("guard failed on %s", call.name, exc_info=True)
            return Decision("deny", f"the permission check failed ({type(exc).__name__}: {exc})")
        if decision.behavior not in ("allow", "ask", "deny"):
            return Decision("deny", f"the permission check returned {decision.behavior!r}")
        return decision

    async def _remember(self, call: ToolCall) -> None:
        """Remember the guard's rules for this call; one it cannot parse is skipped (this call still runs)."""
        assert call.tool is not None
        rules = call.always_rules or narrowest_rules(self.guard, call.tool, call.input, self.context)
        for rule in rules:
            try:
                self.guard.remember(rule, self.context)
            except ValueError as exc:
                log.debug("cannot remember rule %s: %s", rule, exc)
                self.ui.notice(f"could not remember {rule}: {exc}")
                continue
            await self.ui.rule_remembered(rule)

    async def _run_one(self, call: ToolCall) -> None:
        self.ui.tool_started(call)
        try:
            assert call.tool is not None
            if registry.get_tool(call.tool.name) is call.tool:
                result = await registry.run_tool(call.tool.name, call.input, self.context)
            else:
                result = await call.tool.run(call.input, self.context)
            hook = self.post_hooks.get(call.tool.name)
            if hook is not None and not result.is_error:
                result = await hook(call, result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a tool bug must reach the model as an error, not end the session
            log.debug("tool %s failed", call.name, exc_info=True)
            result = ToolResult.error(f"{call.name} failed: {type(exc).__name__}: {exc}")
        self._finish(call, result)
