"""The interactive loop: read a prompt, run the turn, print a status line, repeat.

Ctrl-C at the prompt clears the line; during a turn it cancels the turn's task (the
loop repairs the history, tools kill their process groups) and comes back to the
prompt. Ctrl-D or /exit quits. The conversation is saved after every turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import termios
import time
from pathlib import Path
from typing import Iterable, Iterator

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings
from rich.console import Console
from rich.text import Text

from claude_proxy.chat.commands import ALIASES, COMMANDS, ExitChat, SlashCommands
from claude_proxy.chat.render import TerminalUI
from claude_proxy.chat.runtime import ChatOptions, ChatRuntime
from claude_proxy.settings import Settings, user_config_path
from claude_proxy.tools.guard import sandbox_status


class ChatCompleter(Completer):
    """Slash commands at the start of the input; file paths for words starting with @ or holding a /."""

    def __init__(self, cwd: Path) -> None:
        self.paths = PathCompleter(get_paths=lambda: [str(cwd)], expanduser=True)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        if text.startswith("/") and " " not in text:
            for name in [*COMMANDS, *ALIASES]:
                if name.startswith(text):
                    yield Completion(name, start_position=-len(text), display_meta=COMMANDS.get(name, ""))
            return
        word = document.get_word_before_cursor(WORD=True)
        if not word:
            return
        path = word[1:] if word.startswith("@") else word
        if word.startswith("@") or "/" in path:
            yield from self.paths.get_completions(Document(path, len(path)), complete_event)


MODE_CYCLE = ("default", "acceptEdits", "plan")


@contextlib.contextmanager
def quiet_keyboard() -> Iterator[None]:
    """No echo while a turn runs: the terminal's own "^C" (or stray typing) would shift the live
    area by a line, and the erase that follows would leave a stale copy of the partial answer."""
    fd = sys.stdin.fileno() if sys.stdin.isatty() else -1
    if fd < 0:
        yield
        return
    saved = termios.tcgetattr(fd)
    quiet = list(saved)
    quiet[3] &= ~(termios.ECHO | termios.ECHOCTL)
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


def _key_bindings(runtime: ChatRuntime) -> KeyBindings:
    """Enter sends; Esc-Enter, or Enter after a trailing backslash, starts a new line; Shift-Tab cycles modes."""
    bindings = KeyBindings()

    @bindings.add("s-tab")
    def _(event) -> None:  # type: ignore[no-untyped-def]
        mode = runtime.permission_mode
        following = MODE_CYCLE[(MODE_CYCLE.index(mode) + 1) % len(MODE_CYCLE)] if mode in MODE_CYCLE else "default"
        runtime.set_mode(following)
        event.app.invalidate()

    @bindings.add("enter")
    def _(event) -> None:  # type: ignore[no-untyped-def]
        buffer = event.current_buffer
        if buffer.document.text_before_cursor.endswith("\\"):
            buffer.delete_before_cursor(1)
            buffer.insert_text("\n")
        else:
            buffer.validate_and_handle()

    @bindings.add("escape", "enter")
    def _(event) -> None:  # type: ignore[no-untyped-def]
        event.current_buffer.insert_text("\n")

    return bindings


class Repl:
    """One interactive session in the terminal."""

    def __init__(self, settings: Settings, options: ChatOptions) -> None:
        self.console = Console(highlight=False, markup=False)
        history = settings.chat.history_path()
        history.parent.mkdir(parents=True, exist_ok=True)
        cwd = (options.cwd or Path.cwd()).resolve()
        self.ask_session: PromptSession[str] = PromptSession()
        settings_path = Path(settings.source) if settings.source and Path(settings.source).is_file() \
            else user_config_path()
        self.ui = TerminalUI(self.console, self._ask, save_rules=options.save_rules, settings_path=settings_path,
                             chooser=self._choose)
        self.runtime = ChatRuntime(settings, options, self.ui)
        self.session: PromptSession[str] = PromptSession(
            history=FileHistory(str(history)), completer=ChatCompleter(cwd), multiline=True,
            key_bindings=_key_bindings(self.runtime), complete_while_typing=True,
            bottom_toolbar=self._toolbar,
        )
        self.commands = SlashCommands(self.runtime, self.console)
        self._turn: asyncio.Task | None = None

    async def _ask(self, question: str) -> str:
        try:
            return await self.ask_session.prompt_async(question, handle_sigint=False)
        except (KeyboardInterrupt, EOFError):
            raise asyncio.CancelledError from None

    async def _choose(self, question: str, keys: dict[str, str]) -> str:
        """One key press answers (no Enter); other keys are ignored; Ctrl-C stops the turn."""
        bindings = KeyBindings()

        @bindings.add("<any>")
        def _(event) -> None:  # type: ignore[no-untyped-def]
            """Anything not offered does nothing."""

        for key, value in keys.items():
            def answer(event, value: str = value) -> None:  # type: ignore[no-untyped-def]
                event.app.exit(result=value)

            bindings.add("c-m" if key == "enter" else key, eager=key == "escape")(answer)
        try:
            session: PromptSession[str] = PromptSession(key_bindings=bindings)  # the bindings stay with a session
            reply = await session.prompt_async(question, handle_sigint=False)
        except (KeyboardInterrupt, EOFError):
            raise asyncio.CancelledError from None
        return reply

    def _toolbar(self) -> str:
        return f" mode: {self.runtime.permission_mode} (Shift-Tab cycles) · {self.runtime.config.model}"

    def _on_sigint(self) -> None:
        """Ctrl-C during a turn: stop it; the session goes on."""
        if self._turn is not None and not self._turn.done():
            self._turn.cancel()

    async def run(self, first_prompt: str | None = None) -> None:
        await self.runtime.start()
        self._banner()
        pending = first_prompt
        try:
            while True:
                if pending:
                    text, pending = pending, None
                    self.console.print(Text("> ", style="bold") + Text(text))
                else:
                    try:
                        text = await self.session.prompt_async("> ")
                    except KeyboardInterrupt:
                        continue
                    except EOFError:
                        break
                if not text.strip():
                    continue
                if text.lstrip().startswith("#") and text.strip("# \n"):
                    await self.add_memory(text.strip().lstrip("#").strip())
                    continue
                if text.lstrip().startswith("/"):
                    try:
                        await self.command(text)
                    except ExitChat:
                        break
                    continue
                await self.turn(text)
        finally:
            await self.runtime.save()
            await self.runtime.close()

    async def add_memory(self, line: str) -> None:
        """`# text`: after a y, append the line to ./CLAUDE.md; it is in the system prompt from the next turn."""
        target = self.runtime.cwd / "CLAUDE.md"
        self.console.print(Text(f"memory: add \"- {line}\" to {target}", style="bold"))
        try:
            reply = await self._choose("  Add it? y/N: ", {"y": "yes", "n": "no", "enter": "no", "escape": "no"})
        except asyncio.CancelledError:
            reply = "no"
        if reply != "yes":
            self.console.print(Text("not added", style="dim"))
            return
        try:
            path = await self.runtime.remember(line)
        except OSError as exc:
            self.console.print(Text(f"cannot write {target}: {exc.strerror or exc}", style="red"))
            return
        self.console.print(Text(f"added to {path}", style="green"))

    def _banner(self) -> None:
        runtime = self.runtime
        resumed = len(runtime.conversation.messages)
        config = runtime.config
        self.console.print(Text(f"claude-proxy chat · {config.model} · {runtime.cwd}", style="bold"))
        sandbox = sandbox_status(runtime.settings)
        self.console.print(Text(f"{config.base_url or 'https://api.anthropic.com'} · {config.describe_auth()}"
                                f" · {sandbox.message}", style="dim"))
        note = f" (resumed, {resumed} messages)" if resumed else ""
        self.console.print(Text(
            f"session {runtime.conversation.id}{note} · mode {runtime.permission_mode} · "
            "/help for commands · Ctrl-C stops a turn · Ctrl-D quits", style="dim"))
        last = runtime.conversation.final_text().strip()
        if resumed and last:
            shown = last if len(last) <= 300 else last[:300] + "…"
            self.console.print(Text(f"last answer: {shown}", style="dim"))

    async def command(self, text: str) -> None:
        """A slash command; a long one (/compact) stops on Ctrl-C like a turn."""
        task = self._turn = asyncio.create_task(self.commands.run(text))
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        try:
            with quiet_keyboard():
                await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            self.ui.end_turn()
            self.console.print(Text("⏹ stopped", style="yellow"))
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            self._turn = None
        self.ui.end_turn()

    async def turn(self, text: str) -> None:
        """Run one prompt as a task Ctrl-C can cancel; print the status line after it."""
        agent = self.runtime.agent
        assert agent is not None
        task = self._turn = asyncio.create_task(agent.run(text))
        # prompt_toolkit takes SIGINT over while it reads a line, so the handler is set per turn
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        start = time.monotonic()
        try:
            with quiet_keyboard():
                result = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            self.ui.end_turn()
            self.console.print(Text("⏹ stopped", style="yellow"))
            await self.runtime.save()
            return
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            self._turn = None
        self.ui.end_turn()
        if result.error:
            self.ui.notice(result.error)
            await self.runtime.save()
            return
        if result.stop_reason == "max_turns":
            self.console.print(Text(f"stopped after {result.num_turns} requests (--max-turns)", style="yellow"))
        self.ui.status(result.usage, time.monotonic() - start)
        await self.runtime.save()


async def run_repl(settings: Settings, options: ChatOptions, first_prompt: str | None = None) -> None:
    """Entry point of interactive `claude-proxy chat`."""
    await Repl(settings, options).run(first_prompt)
