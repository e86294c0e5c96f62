"""The terminal front end of the agent loop: streamed Markdown, tool lines, permission prompts.

Text is printed as Markdown while it streams: finished paragraphs (and closed code
fences) are printed for good, and only the paragraph still being written is redrawn
in a small live area, so long answers never fight the terminal's height.
"""

from __future__ import annotations

import asyncio
import difflib
import re
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.text import Text

from claude_proxy.chat.rules import save_rule
from claude_proxy.chat.ui import AgentUI, Answer, ToolCall
from claude_proxy.pricing import Usage
from claude_proxy.tools.base import Decision, ToolResult

Asker = Callable[[str], Awaitable[str]]
FENCE = re.compile(r"^\s*(```|~~~)", re.M)
CODE_THEME = "monokai"
REPARSE_EVERY = 0.1
PREVIEW_LINES = 20


class MarkdownStream:
    """Prints streamed Markdown: settled paragraphs permanently, the open one live."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.pending = ""
        self.live: Live | None = None
        self._parsed_at = 0.0

    def feed(self, delta: str) -> None:
        self.pending += delta
        cut = self._settled(self.pending)
        if cut:
            chunk, self.pending = self.pending[:cut], self.pending[cut:]
            self._print(chunk)
        if self.pending.strip():
            if self.live is None:
                self.live = Live(console=self.console, transient=True, refresh_per_second=8,
                                 vertical_overflow="visible")
                self.live.start()
            now = time.monotonic()
            if now - self._parsed_at >= REPARSE_EVERY:  # a long code block is not re-parsed per token
                self._parsed_at = now
                self.live.update(Markdown(self.pending, code_theme=CODE_THEME))

    def finish(self) -> None:
        """Print what is left and drop the live area."""
        if self.live is not None:
            self.live.stop()
            self.live = None
        if self.pending.strip():
            self.console.print(Markdown(self.pending, code_theme=CODE_THEME))
        self.pending = ""

    @staticmethod
    def _settled(text: str) -> int:
        """Where the text can be cut: after the last blank line outside a code fence."""
        cut = 0
        for match in re.finditer(r"\n\s*\n", text):
            head = text[:match.end()]
            if len(FENCE.findall(head)) % 2 == 0:
                cut = match.end()
        return cut

    def _print(self, chunk: str) -> None:
        if not chunk.strip():
            return
        target = self.live.console if self.live is not None else self.console
        target.print(Markdown(chunk, code_theme=CODE_THEME))


def preview(result: ToolResult, width: int = 100) -> str:
    """The first line of a result and how much more there is."""
    content = result.content
    if not isinstance(content, str):
        content = "\n".join(b.get("text", f"[{b.get('type')}]") for b in content)
    lines = content.strip().splitlines() or [""]
    first = lines[0] if len(lines[0]) <= width else lines[0][: width - 1] + "…"
    more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
    return first + more


def change_preview(call: ToolCall, max_lines: int = PREVIEW_LINES) -> Text | None:
    """What an Edit or Write would change, shown before the user is asked."""
    tool_input = call.input
    name = call.tool.name if call.tool is not None else call.name
    if (name == "Edit" and isinstance(tool_input.get("old_string"), str)
            and isinstance(tool_input.get("new_string"), str)):
        lines = list(difflib.unified_diff(tool_input["old_string"].splitlines(), tool_input["new_string"].splitlines(),
                                          lineterm="", n=1))[2:]
    elif name == "Write" and isinstance(tool_input.get("content"), str):
        lines = ["+" + line for line in tool_input["content"].splitlines()]
    else:
        return None
    text = Text()
    for line in lines[:max_lines]:
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
        text.append(f"    {line}\n", style=style)
    if len(lines) > max_lines:
        text.append(f"    … {len(lines) - max_lines} more lines\n", style="dim")
    text.rstrip()
    return text


class TerminalUI(AgentUI):
    """The REPL's front end; ``asker(question)`` reads one line from the user."""

    interactive = True

    def __init__(self, console: Console, asker: Asker, *, save_rules: bool = False,
                 settings_path: Path | None = None) -> None:
        self.console = console
        self.asker = asker
        self.save_rules = save_rules
        self.settings_path = settings_path
        self.markdown = MarkdownStream(console)
        self._thinking = False

    def request_started(self) -> None:
        self._thinking = False

    def text_delta(self, text: str) -> None:
        self._end_thinking()
        self.markdown.feed(text)

    def thinking_delta(self, text: str) -> None:
        if not self._thinking:
            self.markdown.finish()
            self.console.print(Text("✻ thinking", style="dim"))
            self._thinking = True
        self.console.print(Text(text, style="dim italic"), end="")

    def _end_thinking(self) -> None:
        if self._thinking:
            self.console.print()
            self._thinking = False

    def message_done(self, content: list[dict[str, Any]], stop_reason: str | None) -> None:
        self.finish_stream()
        if stop_reason == "max_tokens":
            self.console.print(Text("(the reply hit max_tokens and was cut off)", style="yellow"))

    def finish_stream(self) -> None:
        self._end_thinking()
        self.markdown.finish()

    def tool_call(self, call: ToolCall) -> None:
        self.finish_stream()
        self.console.print(Text("● ", style="cyan") + Text(call.summary, style="bold"))

    def subagent_tool_call(self, call: ToolCall) -> None:
        self.console.print(Text("    ↳ ", style="dim") + Text(call.summary, style="dim"))

    async def ask(self, call: ToolCall, decision: Decision) -> Answer:
        change = change_preview(call)
        if change is not None:
            self.console.print(change)
        if decision.reason:
            self.console.print(Text(f"  ? {decision.reason}", style="yellow"))
        while True:
            reply = (await self.asker("  Allow? [y]es / [n]o / [a]lways: ")).strip().lower()
            if reply in ("y", "yes"):
                return "yes"
            if reply in ("a", "always"):
                return "always"
            if reply in ("n", "no", ""):
                return "no"

    async def rule_remembered(self, rule: str) -> None:
        self.console.print(Text(f"  allowed for this session: {rule}", style="green"))
        if not self.save_rules or self.settings_path is None:
            return
        reply = await self.asker(
            f"  Save {rule} to {self.settings_path}? (the file is rewritten; its comments are lost) [y/N]: ")
        if reply.strip().lower() in ("y", "yes"):
            try:
                await asyncio.to_thread(save_rule, rule, self.settings_path)
            except OSError as exc:
                self.console.print(Text(f"  could not save: {exc}", style="red"))
            else:
                self.console.print(Text(f"  saved to {self.settings_path}", style="green"))

    def tool_result(self, call: ToolCall, result: ToolResult) -> None:
        style = "red" if result.is_error else "dim"
        self.console.print(Text("  ⎿ ", style="dim") + Text(preview(result), style=style))

    def notice(self, text: str) -> None:
        self.finish_stream()
        self.console.print(Text(text, style="yellow"))

    def status(self, usage: dict[str, int], seconds: float) -> None:
        """The line after each turn: tokens in/out, cache read, turn time."""
        u = Usage.from_api(usage)
        total_in = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens
        self.console.print(Text(
            f"↑ {total_in:,} in · ↓ {u.output_tokens:,} out · cache read {u.cache_read_input_tokens:,}"
            f" · {seconds:.1f}s", style="dim"))

