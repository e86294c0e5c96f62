"""Helpers for driving the chat agent in-process against the fake Anthropic server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from claude_proxy.chat.client import make_client, resolve_config
from claude_proxy.chat.conversation import Conversation
from claude_proxy.chat.loop import Agent
from claude_proxy.chat.ui import AgentUI
from claude_proxy.settings import Settings, parse_settings
from claude_proxy.tools.base import Tool
from claude_proxy.tools.guard import Guard
from claude_proxy.tools.registry import new_context
from tests.support.scripted_anthropic import ScriptedAnthropic

TEST_KEY = "sk-ant-test-key-9876"


def chat_settings(fake: ScriptedAnthropic | None, **chat: Any) -> Settings:
    return parse_settings({"chat": {"max_retries": 0, "base_url": fake.url, "api_key": TEST_KEY, **chat}})


def make_agent(
    fake: ScriptedAnthropic, workdir: Path, tools: list[Tool], *, ui: AgentUI | None = None,
    settings: Settings | None = None, mode: str | None = None, max_turns: int | None = None,
    system: str = "test system prompt",
) -> Agent:
    """An agent wired like the CLI wires it, talking to the fake server, with the given tools."""
    settings = settings or chat_settings(fake)
    config = resolve_config(settings, max_turns=max_turns, env={})
    context = new_context(workdir, settings)
    return Agent(make_client(config), config, Conversation(cwd=str(workdir), model=config.model),
                 tools=tools, guard=Guard(settings, mode), context=context, system=system, ui=ui)


def user_blocks(request: dict[str, Any], index: int = -1) -> list[dict[str, Any]]:
    """The content blocks of one message of a recorded request (the last one by default)."""
    content = request["messages"][index]["content"]
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def tool_results(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in user_blocks(request) if b["type"] == "tool_result"]


def result_text(block: dict[str, Any]) -> str:
    content = block["content"]
    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content)


async def oneshot(fake: ScriptedAnthropic, workdir: Path, prompt: str, output_format: str = "text", *,
                  settings: Settings | None = None, **options: Any) -> tuple[int, str | None, str]:
    """`chat -p` in-process (the same `run_oneshot` the CLI calls): exit code, error line, stdout."""
    import io

    from claude_proxy.chat.oneshot import run_oneshot
    from claude_proxy.chat.runtime import ChatOptions

    out = io.StringIO()
    settings = settings or chat_settings(fake, sessions_path=str(workdir.parent / "sessions.db"))
    code, error = await run_oneshot(settings, ChatOptions(cwd=workdir, **options), prompt, output_format, out)
    return code, error, out.getvalue()
