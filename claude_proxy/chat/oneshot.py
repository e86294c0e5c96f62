"""`claude-proxy chat -p`: one prompt, the full tool loop, no terminal UI.

Only the answer goes to stdout (``text``), or one JSON object (``json``), or one JSON
object per line per event (``stream-json``). Calls that would ask are denied, and the
model is told why, unless ``--allowed-tools`` or ``--permission-mode`` allow them.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from claude_proxy.chat.runtime import ChatOptions, ChatRuntime
from claude_proxy.chat.ui import AgentUI, Answer, ToolCall, TurnResult
from claude_proxy.pricing import PriceTable, Usage
from claude_proxy.settings import Settings
from claude_proxy.tools.base import Decision, ToolResult


class OneShotUI(AgentUI):
    """Non-interactive front end: asks are denied; stream-json prints every event."""

    interactive = False

    def __init__(self, output_format: str, out: TextIO) -> None:
        self.stream = output_format == "stream-json"
        self.out = out
        self.denials: list[dict[str, Any]] = []

    def emit(self, event: dict[str, Any]) -> None:
        self.out.write(json.dumps(event, ensure_ascii=False) + "\n")
        self.out.flush()

    def text_delta(self, text: str) -> None:
        if self.stream:
            self.emit({"type": "text_delta", "text": text})

    def thinking_delta(self, text: str) -> None:
        if self.stream:
            self.emit({"type": "thinking_delta", "thinking": text})

    def tool_call(self, call: ToolCall) -> None:
        if self.stream:
            self.emit({"type": "tool_use", "id": call.id, "name": call.name, "input": call.input})

    async def ask(self, call: ToolCall, decision: Decision) -> Answer:
        return "no"

    def notice(self, text: str) -> None:
        sys.stderr.write(f"claude-proxy: warning: {text}\n")

    def tool_result(self, call: ToolCall, result: ToolResult) -> None:
        if result.is_error and call.decision is not None and call.decision.behavior != "allow":
            self.denials.append({"tool_name": call.name, "tool_use_id": call.id, "tool_input": call.input})
        if self.stream:
            self.emit({"type": "tool_result", "tool_use_id": call.id, "content": result.content,
                       "is_error": result.is_error})


def read_prompt(prompt: str | None, stdin: TextIO) -> str | None:
    """The prompt with piped stdin appended; stdin alone when there is no prompt."""
    piped = None if stdin.isatty() else stdin.read()
    if piped is not None and not piped.strip():
        piped = None
    if prompt and piped:
        return f"{prompt}\n\n{piped}"
    return prompt or piped


def result_payload(runtime: ChatRuntime, result: TurnResult, duration: float, cost: float | None,
                   denials: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``json`` output (and the last ``stream-json`` line).

    ``usage`` counts the main conversation's requests; ``total_cost_usd`` also covers
    sub-agents and WebFetch's small model (None when a model has no known price).
    """
    usage = Usage.from_api(result.usage)
    if result.error:
        subtype = "error_api"
    elif result.stop_reason == "max_turns":
        subtype = "error_max_turns"
    else:
        subtype = "success"
    payload: dict[str, Any] = {
        "type": "result",
        "subtype": subtype,
        "is_error": result.is_error,
        "result": result.text,
        "session_id": runtime.conversation.id,
        "num_turns": result.num_turns,
        "usage": usage.to_dict(),
        "total_cost_usd": cost,
        "stop_reason": result.stop_reason,
        "duration_ms": int(duration * 1000),
        "model": runtime.config.model,
        "permission_denials": denials,
    }
    if result.error:
        payload["error"] = result.error
    return payload


async def run_oneshot(
    settings: Settings, options: ChatOptions, prompt: str, output_format: str, out: TextIO = sys.stdout,
) -> tuple[int, str | None]:
    """Run the prompt; return the exit code and the one-line error (None on success)."""
    ui = OneShotUI(output_format, out)
    runtime = ChatRuntime(settings, options, ui)
    try:
        await runtime.start()
        agent = runtime.agent
        assert agent is not None
        if ui.stream:
            ui.emit({"type": "system", "subtype": "init", "session_id": runtime.conversation.id,
                     "model": runtime.config.model, "cwd": str(runtime.cwd),
                     "permission_mode": runtime.permission_mode, "tools": [t.name for t in agent.tools]})
        start = time.monotonic()
        costs_before = runtime.conversation.costs.to_dict()
        try:
            result = await agent.run(prompt)
        finally:
            await runtime.save()
        duration = time.monotonic() - start
    finally:
        await runtime.close()
    if output_format == "text":
        if result.text and not result.error:
            out.write(result.text if result.text.endswith("\n") else result.text + "\n")
            out.flush()
    else:
        cost = runtime.conversation.costs.since(costs_before).cost(PriceTable.from_settings(runtime.settings.prices))
        ui.emit(result_payload(runtime, result, duration, cost, ui.denials))
    if result.error:
        return 1, result.error
    if result.stop_reason == "max_turns":
        return 1, f"stopped after {result.num_turns} model requests (--max-turns)"
    return 0, None
