"""Wires one chat run together: settings, client, tools, guard, session store, agent.

Both the interactive REPL and one-shot mode build a `ChatRuntime` from the parsed
command-line options, then drive ``runtime.agent``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from claude_proxy.chat.client import ChatConfig, make_client, resolve_config
from claude_proxy.chat.compact import Compactor
from claude_proxy.chat.conversation import Conversation
from claude_proxy.chat.loop import Agent
from claude_proxy.chat.memory import MemoryFile, add_to_project_memory, load_memory, memory_prompt
from claude_proxy.chat.prompt import default_system_prompt
from claude_proxy.chat.sessions import SessionStore, SessionStoreError
from claude_proxy.chat.subagent import SUBAGENT_PROMPT, SubagentUI, TaskTool, webfetch_hook
from claude_proxy.chat.toolrun import ToolRunner
from claude_proxy.chat.ui import AgentUI
from claude_proxy.mcp.session import SessionMcp
from claude_proxy.settings import Settings
from claude_proxy.tools import registry
from claude_proxy.tools.base import Tool, ToolSession
from claude_proxy.tools.guard import SandboxAwareGuard

if TYPE_CHECKING:
    from claude_proxy.chat.api.client import MessagesClient

log = logging.getLogger(__name__)


@dataclass
class ChatOptions:
    """The command-line options that shape a chat run (None: use the settings)."""

    model: str | None = None
    max_tokens: int | None = None
    thinking: int | None = None
    system: str | None = None
    append_system_prompt: str | None = None
    permission_mode: str | None = None
    allowed_tools: list[str] = field(default_factory=list)
    max_turns: int | None = None
    continue_latest: bool = False
    resume: str | None = None
    cwd: Path | None = None
    save_rules: bool = False


class ChatRuntime:
    """Everything one chat run holds; `agent` is what the front ends drive."""

    def __init__(self, settings: Settings, options: ChatOptions, ui: AgentUI) -> None:
        self.options = options
        self.cwd = (options.cwd or Path.cwd()).resolve()
        self.settings = _with_allowed(settings, options.allowed_tools)
        self.config: ChatConfig = resolve_config(
            settings, model=options.model, max_tokens=options.max_tokens,
            thinking=options.thinking, max_turns=options.max_turns,
        )
        self.permission_mode = options.permission_mode or settings.permissions.default_mode
        self.store = SessionStore(settings.chat.sessions_db())
        self.ui = ui
        self.client: "MessagesClient" = make_client(self.config, on_retry=ui.retrying)
        self.guard = SandboxAwareGuard(self.settings, self.permission_mode)
        self.context = registry.new_context(self.cwd, self.settings, ToolSession())
        self.conversation = Conversation(cwd=str(self.cwd), model=self.config.model)
        self.context.session.id = self.conversation.id
        self.system = ""
        self.memory: list[MemoryFile] = []
        self.agent: Agent | None = None
        self.mcp = SessionMcp(self.settings, self.cwd, ui.notice)

    async def start(self) -> None:
        """Load the session to continue, build the system prompt and the agent."""
        if self.options.resume:
            self.conversation = await self.store.load(self.options.resume)
        elif self.options.continue_latest:
            latest = await self.store.latest(str(self.cwd))
            if latest is not None:
                self.conversation = latest
        self.conversation.close_dangling("not run: the previous run ended before this call ran")
        if self.options.model is None and self.conversation.model and self.conversation.messages:
            self.config = dataclasses.replace(self.config, model=self.conversation.model)
        self.conversation.model = self.config.model
        self.context.session.id = self.conversation.id
        self.system = await asyncio.to_thread(self._system_prompt)
        tools = self._main_tools() + await self.mcp.start()
        chat = self.settings.chat
        compactor = Compactor(self.client, context_window=chat.context_window, share=chat.auto_compact,
                              session=lambda: self.context.session)
        self.agent = Agent(
            self.client, self.config, self.conversation, tools=tools, guard=self.guard,
            context=self.context, system=self.system, ui=self.ui, compactor=compactor,
        )
        self.agent.runner.post_hooks["WebFetch"] = webfetch_hook(
            self.client, self.config.small_model, lambda model, usage: self.conversation.costs.record(model, usage),
        )

    def _system_prompt(self) -> str:
        system = self.options.system if self.options.system is not None else default_system_prompt(self.cwd)
        if self.settings.chat.memory:
            self.memory = load_memory(self.cwd)
        memory = memory_prompt(self.memory)
        if memory:
            system = f"{system}\n\n{memory}"
        if self.options.append_system_prompt:
            system = f"{system}\n\n{self.options.append_system_prompt}"
        return system

    async def remember(self, line: str) -> Path:
        """`# text`: add a line to the project's CLAUDE.md and reload the memory into the system prompt."""
        path = await asyncio.to_thread(add_to_project_memory, self.cwd, line)
        self.system = await asyncio.to_thread(self._system_prompt)
        if self.agent is not None:
            self.agent.system = self.system
        return path

    def _main_tools(self) -> list[Tool]:
        tools = list(registry.all_tools())
        names = {n for t in tools for n in (t.name, *t.aliases)}
        if "Task" not in names:
            tools.append(TaskTool(self._spawn_subagent))
        return tools

    async def _spawn_subagent(self, prompt: str) -> tuple[str, str | None]:
        read_only = [t for t in registry.all_tools() if t.read_only]
        conversation = Conversation(cwd=str(self.cwd), model=self.config.model)
        context = registry.new_context(self.cwd, self.settings, ToolSession(
            id=f"{self.conversation.id}/task", session_allow=self.context.session.session_allow))
        sub = Agent(
            self.client, self.config, conversation, tools=read_only, guard=self.guard,
            context=context, system=f"{SUBAGENT_PROMPT}\n\nWorking directory: {self.cwd}", ui=SubagentUI(self.ui),
        )
        result = await sub.run(prompt)
        for model, usage in conversation.costs.by_model.items():
            self.conversation.costs.record(model, usage)
        return result.text, result.error

    def set_mode(self, mode: str) -> None:
        """Switch the permission mode for the rest of the session (ValueError for an unknown one)."""
        self.guard.set_mode(mode)
        self.permission_mode = mode

    def set_model(self, model: str) -> None:
        self.config = dataclasses.replace(self.config, model=model)
        self.conversation.model = model
        if self.agent is not None:
            self.agent.config = self.config

    def new_conversation(self) -> None:
        """`/clear`: a fresh conversation (and session id); the old one stays saved."""
        self.conversation = Conversation(cwd=str(self.cwd), model=self.config.model)
        self.context.session = ToolSession(id=self.conversation.id, session_allow=self.context.session.session_allow)
        if self.agent is not None:
            self.agent.conversation = self.conversation

    async def save(self) -> None:
        """Save the conversation; a failure is a warning, the session goes on."""
        if not self.conversation.messages:
            return
        try:
            await self.store.save(self.conversation)
        except SessionStoreError as exc:
            log.debug("save failed: %s", exc)
            self.ui.notice(f"the session was not saved: {exc}")

    async def approve_project_mcp(self) -> None:
        """`/mcp approve`: use the project's .mcp.json from now on; the model gets its tools."""
        mcp_tools = await self.mcp.approve_project()
        if self.agent is not None:
            old = self.agent.runner
            self.agent.runner = ToolRunner(self._main_tools() + mcp_tools, old.guard, old.context, old.ui)
            self.agent.runner.post_hooks = old.post_hooks

    async def close(self) -> None:
        await self.mcp.stop()
        await self.client.close()


def _with_allowed(settings: Settings, allowed: list[str]) -> Settings:
    """Settings whose ``permissions.allow`` also holds the ``--allowed-tools`` rules."""
    if not allowed:
        return settings
    permissions = settings.permissions.model_copy(update={"allow": [*settings.permissions.allow, *allowed]})
    copy = settings.model_copy(update={"permissions": permissions})
    copy.source = settings.source
    return copy
