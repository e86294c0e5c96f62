"""The terminal front end of the agent loop: streamed Markdown, tool lines, permission prompts.

Text is printed as Markdown while it streams: finished paragraphs (and closed code
fences) are printed for good, and only the paragraph still being written is redrawn
in a small live area, so long answers never fight the terminal's height.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from pathlib import Path
from typing import Any, Awaitable, Callable

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.markdown import Markdown
from rich.text import Text

from claude_proxy.chat.progress import Progress, elapsed
from claude_proxy.chat.rules import save_rule
from claude_proxy.chat.ui import AgentUI, Answer, ToolCall
from claude_proxy.pricing import Usage
from claude_proxy.tools.base import Decision, ToolResult

Asker = Callable[[str], Awaitable[str]]
Chooser = Callable[[str, dict[str, str]], Awaitable[str]]
# one key answers the permission prompt; Enter and Esc say no
ANSWER_KEYS = {"y": "yes", "n": "no", "a": "always", "enter": "no", "escape": "no"}
FENCE = re.compile(r"^\s*(```|~~~)", re.M)
CODE_THEME = "monokai"
PREVIEW_LINES = 20
SHOW_TIME_FROM = 1.0  # seconds: a tool that took longer says how long on its result line


class MarkdownStream:
    """Prints streamed Markdown: settled paragraphs permanently, the open one live.

    The live area renders the open paragraph itself, parsed at most once per refresh
    of rich's refresh thread (8 a second), so a long code block is not re-parsed per
    token and the last words show even when the stream pauses.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.pending = ""
        self.live: Live | None = None
        self._parsed: tuple[str, Markdown] | None = None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        text = self.pending
        if self._parsed is None or self._parsed[0] != text:
            self._parsed = (text, Markdown(text, code_theme=CODE_THEME))
        yield self._parsed[1]

    def feed(self, delta: str) -> None:
        self.pending += delta
        cut = self._settled(self.pending)
        if cut:
            chunk, self.pending = self.pending[:cut], self.pending[cut:]
            self._print(chunk)
        if self.pending.strip() and self.live is None:
            self.live = Live(self, console=self.console, transient=True, refresh_per_second=8,
                             vertical_overflow="visible")
            self.live.start()

    def finish(self) -> None:
        """Print what is left and drop the live area."""
        if self.live is not None:
            live, self.live = self.live, None
            live.stop()
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
    """The REPL's front end; ``asker(question)`` reads one line, ``chooser(question, keys)`` one key press."""

    interactive = True

    def __init__(self, console: Console, asker: Asker, *, save_rules: bool = False,
                 settings_path: Path | None = None, chooser: Chooser | None = None) -> None:
        self.console = console
        self.asker = asker
        self.chooser = chooser or self._choose_by_line
        self.save_rules = save_rules
        self.settings_path = settings_path
        self.markdown = MarkdownStream(console)
        self.progress = Progress(console)
        self._thinking = False

    def request_started(self) -> None:
        self._thinking = False
        self.progress.wait_started()

    def retrying(self, reason: str, delay: float) -> None:
        self.progress.retrying(reason, delay)

    def text_delta(self, text: str) -> None:
        self.progress.wait_over()
        self._end_thinking()
        self.markdown.feed(text)

    def thinking_delta(self, text: str) -> None:
        self.progress.wait_over()
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
        self.progress.wait_over()
        self.finish_stream()
        if stop_reason == "max_tokens":
            self.console.print(Text("(the reply hit max_tokens and was cut off)", style="yellow"))

    def finish_stream(self) -> None:
        self._end_thinking()
        self.markdown.finish()

    def end_turn(self) -> None:
        """The turn is over (done, failed or stopped): nothing may stay live on the screen."""
        self.progress.stop()
        self.finish_stream()

    def tool_started(self, call: ToolCall) -> None:
        self.progress.tool_started(call.id, call.summary)

    def tool_call(self, call: ToolCall) -> None:
        self.finish_stream()
        self.console.print(Text("● ", style="cyan") + Text(call.summary, style="bold"))

    def subagent_tool_call(self, call: ToolCall) -> None:
        self.console.print(Text("    ↳ ", style="dim") + Text(call.summary, style="dim"))

    async def ask(self, call: ToolCall, decision: Decision) -> Answer:
        self.progress.pause()
        try:
            return await self._ask(call, decision)
        finally:
            self.progress.resume()

    async def _ask(self, call: ToolCall, decision: Decision) -> Answer:
        change = change_preview(call)
        if change is not None:
            self.console.print(change)
        if decision.reason:
            self.console.print(Text(f"  ? {decision.reason}", style="yellow"))
        rules = ", ".join(call.always_rules) or call.name
        self.console.print(Text(f"  a = always allow {rules} for this session", style="dim"))
        reply = await self.chooser("  Allow? y yes · n no · a always: ", ANSWER_KEYS)
        return "yes" if reply == "yes" else "always" if reply == "always" else "no"

    async def _choose_by_line(self, question: str, keys: dict[str, str]) -> str:
        """Without a key reader: a line whose first letter is one of the keys (an empty line is Enter)."""
        while True:
            reply = (await self.asker(question)).strip().lower()
            key = reply[:1] if reply else "enter"
            if key in keys:
                return keys[key]

    async def rule_remembered(self, rule: str) -> None:
        self.console.print(Text(f"  allowed for this session: {rule}", style="green"))
        if not self.save_rules or self.settings_path is None:
            return
        reply = await self.chooser(
            f"  Save {rule} to {self.settings_path}? (the file is rewritten; its comments are lost) y/N: ",
            {"y": "yes", "n": "no", "enter": "no", "escape": "no"})
        if reply == "yes":
            try:
                await asyncio.to_thread(save_rule, rule, self.settings_path)
            except OSError as exc:
                self.console.print(Text(f"  could not save: {exc}", style="red"))
            else:
                self.console.print(Text(f"  saved to {self.settings_path}", style="green"))

    def tool_result(self, call: ToolCall, result: ToolResult) -> None:
        took = self.progress.tool_done(call.id)
        style = "red" if result.is_error else "dim"
        line = Text("  ⎿ ", style="dim") + Text(preview(result), style=style)
        if took is not None and took >= SHOW_TIME_FROM:
            line.append(f" ({elapsed(took)})", style="dim")
        self.console.print(line)

    def compacting(self, trigger: str, tokens: int) -> None:
        self.progress.stop()
        self.finish_stream()
        why = "the context is nearly full: " if trigger == "auto" else ""
        self.console.print(Text(f"✻ {why}compacting the conversation (~{tokens:,} tokens)…", style="dim"))
        self.progress.wait_started()

    def compacted(self, trigger: str, tokens: int, messages: int) -> None:
        self.progress.wait_over()
        self.console.print(Text(f"✻ compacted {messages} messages into a summary; the full history stays "
                                "in the session", style="dim"))

    def notice(self, text: str) -> None:
        self.progress.wait_over()
        self.finish_stream()
        self.console.print(Text(text, style="yellow"))

    def status(self, usage: dict[str, int], seconds: float) -> None:
        """The line after each turn: tokens in/out, cache read, turn time."""
        u = Usage.from_api(usage)
        total_in = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens
        self.console.print(Text(
            f"↑ {total_in:,} in · ↓ {u.output_tokens:,} out · cache read {u.cache_read_input_tokens:,}"
            f" · {seconds:.1f}s", style="dim"))

