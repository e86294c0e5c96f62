"""The agent loop: stream a reply, run its tool calls through the guard, repeat until done.

`Agent.run(prompt)` handles one user prompt to the end of the model's turn (or
``max_turns`` requests). Cancelling the task that runs it (Ctrl-C) stops the stream or
the tools, and the history is repaired before the cancellation propagates, so the next
prompt starts from a valid conversation.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from claude_proxy.chat.client import ChatConfig, describe_api_error
from claude_proxy.chat.conversation import INTERRUPTED_NOTE, Conversation
from claude_proxy.chat.prompt import build_request
from claude_proxy.chat.toolrun import ToolRunner
from claude_proxy.chat.ui import AgentUI, TurnResult
from claude_proxy.pricing import Usage
from claude_proxy.tools.base import ToolGuard

if TYPE_CHECKING:
    from claude_proxy.chat.api.client import MessagesClient
    from claude_proxy.chat.compact import Compactor
    from claude_proxy.tools.base import Tool, ToolContext



def block_to_param(block: dict[str, Any]) -> dict[str, Any]:
    """A content block of a reply as the dict we store and send back (only the fields the API takes back)."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": block.get("text", "")}
    if kind == "thinking":
        return {"type": "thinking", "thinking": block.get("thinking", ""), "signature": block.get("signature", "")}
    if kind == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.get("data", "")}
    if kind == "tool_use":
        return {"type": "tool_use", "id": block["id"], "name": block["name"], "input": block.get("input") or {}}
    return {k: v for k, v in block.items() if v is not None}


class _Partial:
    """What has streamed so far, for an interrupted request."""

    def __init__(self) -> None:
        self.blocks: list[dict[str, Any]] = []
        self.text = ""

    def kept(self) -> list[dict[str, Any]]:
        """Only text survives an interruption: unfinished tool calls and unsigned thinking cannot."""
        blocks = [b for b in self.blocks if b["type"] == "text" and b["text"].strip()]
        if self.text.strip():
            blocks.append({"type": "text", "text": self.text})
        return blocks


class Agent:
    """One conversation with the model and the tools."""

    def __init__(
        self,
        client: "MessagesClient",
        config: ChatConfig,
        conversation: Conversation,
        *,
        tools: list["Tool"],
        guard: ToolGuard,
        context: "ToolContext",
        system: str,
        ui: AgentUI | None = None,
        compactor: "Compactor | None" = None,
    ) -> None:
        self.client = client
        self.config = config
        self.conversation = conversation
        self.system = system
        self.ui = ui or AgentUI()
        self.runner = ToolRunner(tools, guard, context, self.ui)
        self._partial: _Partial | None = None
        self._api_seconds = 0.0
        self.usage = Usage()  # the current (or last) turn's, so far
        self.compactor = compactor

    @property
    def tools(self) -> list["Tool"]:
        return self.runner.tools

    async def run(self, prompt: str | list[dict[str, Any]]) -> TurnResult:
        """Answer one prompt: stream, run tools, loop; API errors become ``result.error``."""
        from claude_proxy.chat.api.errors import APIError

        await self._compact_if_due(prompt)
        conversation = self.conversation
        point = conversation.snapshot()
        conversation.add_user(prompt)
        turn_usage = self.usage = Usage()
        requests = 0
        stop_reason = "end_turn"
        self._api_seconds = 0.0
        try:
            while True:
                requests += 1
                try:
                    if requests > 1:
                        await self._compact_if_due()
                    content, stop_reason, usage = await self._request()
                except APIError as exc:
                    if requests == 1:
                        conversation.restore(point)
                    error = describe_api_error(exc)
                    return self._result("error", requests, turn_usage, error=error)
                turn_usage.add(usage)
                conversation.costs.record(self.config.model, usage)
                conversation.add_assistant(content)
                if self.compactor is not None:
                    self.compactor.observe(conversation, usage)
                calls = [b for b in content if b["type"] == "tool_use"]
                if not calls:
                    break
                if stop_reason != "tool_use":
                    self._add_results(self.runner.unrun(calls, f"not run: the response stopped ({stop_reason})"))
                    break
                if requests >= self.config.max_turns:
                    self._add_results(self.runner.unrun(calls, "not run: the turn limit (--max-turns) was reached"))
                    stop_reason = "max_turns"
                    break
                self._add_results(await self.runner.run_calls(calls))
        except asyncio.CancelledError:
            self._repair_after_cancel(point, requests)
            raise
        return self._result(stop_reason, requests, turn_usage)

    def _tool_definitions(self) -> list[dict[str, Any]]:
        return [t.definition() for t in self.tools]

    async def compact(self, instructions: str = "", trigger: str = "manual", tokens: int | None = None) -> None:
        """Summarise the history into one message (`/compact`, or on its own when the context is full)."""
        if self.compactor is None or not self.conversation.messages:
            return
        tools = self._tool_definitions()
        if tokens is None:
            tokens = self.compactor.estimate(self.conversation, self.system, tools)
        self.ui.compacting(trigger, tokens)
        result = await self.compactor.compact(self.conversation, model=self.config.model, system=self.system,
                                              tools=tools, instructions=instructions, tokens_before=tokens)
        self.conversation.costs.record(self.config.model, result.usage)
        self.ui.compacted(trigger, tokens, result.messages_replaced)

    async def _compact_if_due(self, prompt: Any = None) -> None:
        """Compact first when the next request would pass the configured share of the context window."""
        if self.compactor is None or not self.conversation.messages:
            return
        tokens = self.compactor.estimate(self.conversation, self.system, self._tool_definitions(), prompt)
        if not self.compactor.due(tokens):
            return
        from claude_proxy.chat.api.errors import APIError

        try:
            await self.compact(trigger="auto", tokens=tokens)
        except (APIError, ValueError) as exc:
            error = describe_api_error(exc) if isinstance(exc, APIError) else str(exc)
            self.ui.notice(f"automatic compaction failed, going on with the full history: {error}")

    def _add_results(self, results: list[dict[str, Any]]) -> None:
        self.ui.tool_results_sent(results)
        self.conversation.add_user(results)

    def _result(self, stop_reason: str, requests: int, usage: Usage, error: str | None = None) -> TurnResult:
        return TurnResult(
            stop_reason=stop_reason,
            text=self.conversation.final_text() if error is None else "",
            num_turns=requests,
            error=error,
            usage=usage.to_dict(),
            api_ms=int(self._api_seconds * 1000),
        )

    def _repair_after_cancel(self, point: tuple[int, Any, str | None], requests: int) -> None:
        """Leave a valid history: keep streamed text, answer every tool_use, note the interruption."""
        conversation = self.conversation
        partial, self._partial = self._partial, None
        pending = conversation.unanswered_tool_uses()
        if pending:
            conversation.add_user(self.runner.interrupted_results(pending))
        elif partial is not None:
            kept = partial.kept()
            if not kept and requests == 1:
                conversation.restore(point)
                return
            conversation.add_assistant(kept)
        conversation.pending_note = INTERRUPTED_NOTE

    async def _request(self) -> tuple[list[dict[str, Any]], str, Usage]:
        """Stream one reply to the UI; return its content, stop reason and usage."""
        params = build_request(
            model=self.config.model,
            max_tokens=self.config.effective_max_tokens(),
            system=self.system,
            tools=self._tool_definitions(),
            messages=self.conversation.messages,
            thinking_budget=self.config.thinking_budget,
        )
        partial = self._partial = _Partial()
        self.ui.request_started()
        started = time.monotonic()
        try:
            message = await self._stream(params, partial)
        finally:
            self._api_seconds += time.monotonic() - started
        self._partial = None
        content = [block_to_param(b) for b in message.get("content") or []]
        stop_reason = message.get("stop_reason") or "end_turn"
        self.ui.message_done(content, stop_reason)
        self.ui.assistant_message({**message, "content": content})
        return content, stop_reason, Usage.from_api(message.get("usage"))

    async def _stream(self, params: dict[str, Any], partial: _Partial) -> dict[str, Any]:
        """Read one streamed reply into ``partial`` and the UI; return the final message."""
        raw = self.ui.wants_stream_events
        async with self.client.messages.stream(**params) as stream:
            async for event in stream:
                if raw and event.data:
                    self.ui.stream_event(event.data)
                if event.type == "text":
                    partial.text += event.text
                    self.ui.text_delta(event.text)
                elif event.type == "thinking":
                    self.ui.thinking_delta(event.thinking)
                elif event.type == "content_block_stop" and event.content_block is not None:
                    partial.blocks.append(block_to_param(event.content_block))
                    partial.text = ""
            return await stream.get_final_message()
