"""Slash commands of the REPL: /help /clear /model /tools /todos /cost /permissions /save /mcp /exit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from claude_proxy.chat.transcript import to_markdown
from claude_proxy.pricing import PriceTable, estimate_cost

if TYPE_CHECKING:
    from claude_proxy.chat.runtime import ChatRuntime

COMMANDS: dict[str, str] = {
    "/help": "show this help",
    "/clear": "start a new conversation (the old one stays saved)",
    "/model": "show the model, or /model NAME to switch",
    "/tools": "list the tools the model may call",
    "/todos": "show the model's todo list",
    "/cost": "tokens used and an estimated price for this session",
    "/permissions": "the permission mode and rules; /permissions MODE switches (Shift-Tab cycles)",
    "/compact": "/compact [instructions]: replace the history by a summary (todos, files, last results kept)",
    "/memory": "the memory files (CLAUDE.md, AGENTS.md, ...) in the system prompt; # text adds a line",
    "/save": "/save PATH: write the conversation as Markdown",
    "/mcp": "MCP servers: status and tools; /mcp approve uses the project's .mcp.json",
    "/exit": "quit (Ctrl-D works too)",
}
ALIASES = {"/quit": "/exit", "/q": "/exit", "/?": "/help"}


class ExitChat(Exception):
    """Raised by /exit."""


class SlashCommands:
    """Runs one slash command line against the runtime and prints to the console."""

    def __init__(self, runtime: "ChatRuntime", console: Console) -> None:
        self.runtime = runtime
        self.console = console
        self.handlers: dict[str, Callable[[str], Awaitable[None]]] = {
            "/help": self.help, "/clear": self.clear, "/model": self.model, "/tools": self.tools,
            "/todos": self.todos, "/cost": self.cost, "/permissions": self.permissions, "/memory": self.memory,
            "/compact": self.compact,
            "/save": self.save, "/mcp": self.mcp, "/exit": self.exit,
        }

    async def run(self, line: str) -> None:
        """Run ``line`` (starts with "/"); raises `ExitChat` for /exit."""
        name, _, arg = line.strip().partition(" ")
        name = ALIASES.get(name, name)
        handler = self.handlers.get(name)
        if handler is None:
            self.console.print(Text(f"unknown command {name} (see /help)", style="red"))
            return
        await handler(arg.strip())

    async def help(self, arg: str) -> None:
        table = Table(show_header=False, box=None, padding=(0, 2))
        for name, text in COMMANDS.items():
            table.add_row(Text(name, style="bold"), text)
        self.console.print(table)
        self.console.print(Text(
            "Enter sends · Esc then Enter (or a line ending in \\) adds a new line · Tab completes commands and "
            "paths (after @ or /) · Ctrl-C stops the current turn · Ctrl-D quits", style="dim"))

    async def clear(self, arg: str) -> None:
        await self.runtime.save()
        self.runtime.new_conversation()
        self.console.print(Text(f"new conversation {self.runtime.conversation.id}", style="dim"))

    async def model(self, arg: str) -> None:
        if arg:
            self.runtime.set_model(arg)
        self.console.print(f"model: {self.runtime.config.model}")

    async def tools(self, arg: str) -> None:
        table = Table(show_header=True, box=None, padding=(0, 2))
        table.add_column("tool")
        table.add_column("kind")
        table.add_column("description")
        for tool in self.runtime.agent.tools if self.runtime.agent else []:
            first = tool.description.strip().splitlines()[0] if tool.description else ""
            table.add_row(tool.name, "read-only" if tool.read_only else "changes things", first[:80])
        self.console.print(table)

    async def todos(self, arg: str) -> None:
        from claude_proxy.tools.todo import render_todos

        todos = self.runtime.context.session.todos
        self.console.print(render_todos(todos) if todos else "no todos")

    async def cost(self, arg: str) -> None:
        costs = self.runtime.conversation.costs
        if not costs.by_model:
            self.console.print("no tokens used yet")
            return
        table = Table(box=None, padding=(0, 2))
        for column in ("model", "input", "output", "cache write", "cache read", "est. cost"):
            table.add_column(column, justify="right" if column != "model" else "left")
        prices = PriceTable.from_settings(self.runtime.settings.prices)
        for model, usage in costs.by_model.items():
            price = estimate_cost(model, usage, prices)
            table.add_row(model, f"{usage.input_tokens:,}", f"{usage.output_tokens:,}",
                          f"{usage.cache_creation_input_tokens:,}", f"{usage.cache_read_input_tokens:,}",
                          "n/a" if price is None else f"${price:.4f}")
        self.console.print(table)
        total = costs.cost(prices)
        self.console.print(f"total: {'n/a (unknown model price)' if total is None else f'${total:.4f}'}")

    async def permissions(self, arg: str) -> None:
        runtime = self.runtime
        if arg:
            try:
                runtime.set_mode(arg)
            except ValueError as exc:
                self.console.print(Text(str(exc), style="red"))
                return
        rules = runtime.settings.permissions
        self.console.print(f"mode: {runtime.permission_mode}")
        for label, values in (("allow", rules.allow), ("ask", rules.ask), ("deny", rules.deny),
                              ("allowed this session", runtime.context.session.session_allow)):
            self.console.print(f"{label}: {', '.join(values) if values else '(none)'}")

    async def compact(self, arg: str) -> None:
        from claude_proxy.chat.api.errors import APIError
        from claude_proxy.chat.client import describe_api_error

        agent = self.runtime.agent
        if agent is None or not self.runtime.conversation.messages:
            self.console.print("nothing to compact yet")
            return
        try:
            await agent.compact(arg)
        except (APIError, ValueError) as exc:
            error = describe_api_error(exc) if isinstance(exc, APIError) else str(exc)
            self.runtime.ui.notice(f"compaction failed, the history is unchanged: {error}")
            return
        await self.runtime.save()

    async def memory(self, arg: str) -> None:
        files = self.runtime.memory
        if not self.runtime.settings.chat.memory:
            self.console.print("memory is off (chat.memory: false in the settings)")
            return
        if not files:
            self.console.print("no memory files loaded (CLAUDE.md, CLAUDE.local.md, AGENTS.md here or above, "
                               "~/.claude/CLAUDE.md)")
        for memory in files:
            cut = " (cut)" if memory.truncated else ""
            lines = len(memory.text.splitlines())
            self.console.print(f"{memory.scope:<8} {memory.path}  {lines} lines{cut}")
        self.console.print(Text("# text at the prompt adds a line to ./CLAUDE.md", style="dim"))

    async def save(self, arg: str) -> None:
        if not arg:
            self.console.print(Text("usage: /save PATH", style="red"))
            return
        path = Path(arg).expanduser()
        if not path.is_absolute():
            path = self.runtime.cwd / path
        text = to_markdown(self.runtime.conversation)
        try:
            await asyncio.to_thread(path.write_text, text, encoding="utf-8")
        except OSError as exc:
            self.console.print(Text(f"cannot write {path}: {exc.strerror}", style="red"))
            return
        self.console.print(f"saved the transcript to {path}")

    async def mcp(self, arg: str) -> None:
        if arg == "approve":
            try:
                await self.runtime.approve_project_mcp()
            except (OSError, ValueError) as exc:
                self.console.print(Text(str(exc), style="red"))
                return
        elif arg:
            self.console.print(Text("usage: /mcp [approve]", style="red"))
            return
        for line in self.runtime.mcp.report():
            self.console.print(Text(line))

    async def exit(self, arg: str) -> None:
        raise ExitChat
