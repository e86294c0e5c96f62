"""`claude-proxy chat -p`: one prompt, the full tool loop, no terminal UI.

``text`` prints only the answer on stdout; each denied call and each failed tool call
is one line on stderr, so a script can tell an answer given around a refusal. ``json``
prints one ``result`` object and ``stream-json`` one object per line, both in Claude
Code's headless shapes (see ``events``). Calls that would ask are denied, and the model
is told why, unless ``--allowed-tools`` or ``--permission-mode`` allow them.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from claude_proxy.chat import events
from claude_proxy.chat.interrupt import Interrupted, bounded, interruptible
from claude_proxy.chat.runtime import ChatOptions, ChatRuntime
from claude_proxy.chat.ui import AgentUI, Answer, ToolCall, TurnResult
from claude_proxy.pricing import PriceTable, Usage
from claude_proxy.settings import Settings
from claude_proxy.tools.base import Decision, ToolResult

# exit codes of `chat -p`, documented in the README
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SAVE_WAIT, CLOSE_WAIT = 10.0, 3.0  # seconds; past them the run ends without waiting


class OneShotUI(AgentUI):
    """Non-interactive front end: asks are denied; stream-json prints every message."""

    interactive = False

    def __init__(self, output_format: str, out: TextIO, err: TextIO | None = None,
                 partial_messages: bool = False) -> None:
        self.format = output_format
        self.stream = output_format == "stream-json"
        self.wants_stream_events = self.stream and partial_messages
        self.out = out
        self.err = err or sys.stderr
        self.session_id = ""
        self.denials: list[dict[str, Any]] = []

    def emit(self, event: dict[str, Any]) -> None:
        self.out.write(json.dumps(event, ensure_ascii=False) + "\n")
        self.out.flush()

    def stream_event(self, event: dict[str, Any]) -> None:
        self.emit(events.stream_event(self.session_id, event))

    def assistant_message(self, message: dict[str, Any]) -> None:
        if self.stream:
            self.emit(events.assistant(self.session_id, message))

    def tool_results_sent(self, content: list[dict[str, Any]]) -> None:
        if self.stream:
            self.emit(events.user(self.session_id, content))

    def compacted(self, trigger: str, tokens: int, messages: int) -> None:
        if self.stream:
            self.emit(events.compact_boundary(self.session_id, trigger, tokens))

    async def ask(self, call: ToolCall, decision: Decision) -> Answer:
        return "no"

    def notice(self, text: str) -> None:
        self.err.write(f"claude-proxy: warning: {text}\n")
        self.err.flush()

    def tool_result(self, call: ToolCall, result: ToolResult) -> None:
        if not result.is_error:
            return
        denied = call.decision is not None and call.decision.behavior != "allow"
        if denied:
            self.denials.append({"tool_name": call.name, "tool_use_id": call.id, "tool_input": call.input})
        if self.format == "text":
            kind = "denied" if denied else "tool error"
            reason = " ".join(_text(result.content).split())
            self.err.write(f"claude-proxy: {kind}: {call.summary}: {reason[:300]}\n")
            self.err.flush()


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))


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
    if result.error:
        subtype = events.ERROR_DURING_EXECUTION
    elif result.stop_reason == "max_turns":
        subtype = events.ERROR_MAX_TURNS
    else:
        subtype = events.SUCCESS
    error = result.error
    if error is None and subtype == events.ERROR_MAX_TURNS:
        error = f"stopped after {result.num_turns} model requests (--max-turns)"
    return events.result(
        runtime.conversation.id, subtype=subtype, text=result.text, num_turns=result.num_turns,
        duration_ms=int(duration * 1000), duration_api_ms=result.api_ms,
        usage=Usage.from_api(result.usage).to_dict(), total_cost_usd=cost, stop_reason=result.stop_reason,
        model=runtime.config.model, permission_denials=denials, error=error,
    )


async def run_oneshot(
    settings: Settings, options: ChatOptions, prompt: str, output_format: str, out: TextIO = sys.stdout,
    *, partial_messages: bool = False, err: TextIO | None = None,
) -> tuple[int, str | None]:
    """Run the prompt; return the exit code and the one-line error (None on success)."""
    ui = OneShotUI(output_format, out, err, partial_messages)
    runtime = ChatRuntime(settings, options, ui)
    try:
        await runtime.start()
        agent = runtime.agent
        assert agent is not None
        ui.session_id = runtime.conversation.id
        if ui.stream:
            ui.emit(events.system_init(
                ui.session_id, model=runtime.config.model, cwd=str(runtime.cwd),
                tools=[t.name for t in agent.tools], permission_mode=runtime.permission_mode,
                api_key_source="user" if runtime.config.api_key or runtime.config.auth_token else "none",
                slash_commands=[]))
        start = time.monotonic()
        costs_before = runtime.conversation.costs.to_dict()
        try:
            result = await interruptible(agent.run(prompt))
        except Interrupted:
            result = TurnResult(stop_reason="interrupted", error="interrupted", usage=agent.usage.to_dict())
        finally:
            await bounded(runtime.save(), SAVE_WAIT, "saving the session")
        duration = time.monotonic() - start
    finally:
        await bounded(runtime.close(), CLOSE_WAIT, "closing the client")
    cost = runtime.conversation.costs.since(costs_before).cost(PriceTable.from_settings(runtime.settings.prices))
    payload = result_payload(runtime, result, duration, cost, ui.denials)
    if output_format == "text":
        if result.text and not result.error:
            out.write(result.text if result.text.endswith("\n") else result.text + "\n")
            out.flush()
    else:
        ui.emit(payload)
    if result.stop_reason == "interrupted":
        return EXIT_INTERRUPTED, "interrupted"
    if payload["is_error"]:
        return EXIT_FAILED, payload["error"]
    return EXIT_OK, None
