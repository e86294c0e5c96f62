"""The system prompt and the request body, with prompt-caching breakpoints.

Caching marks up to four places (the API's limit): the system prompt, the last tool
definition, the latest message and the user message before it, so each request reads
the previous request's prefix from the cache and writes its own.
"""

from __future__ import annotations

import copy
import datetime as dt
import platform
import subprocess
from pathlib import Path
from typing import Any

EPHEMERAL = {"type": "ephemeral"}

TOOL_GUIDE = """\
You are an agent working in the user's terminal through claude-proxy. Use the tools to
inspect and change the user's files and run commands; prefer reading files before editing
them, make the smallest change that does the job, and keep answers short. Paths are
relative to the working directory unless absolute. Each tool call may be allowed, asked
about or denied by the user's permission rules; when a call is denied, do not retry it
unchanged: say what you needed and why. Several read-only calls may be made in one
message and run at the same time. Prefer Read, Grep, Glob and Edit over shell commands
for files. For a task with several steps keep a todo list with TodoWrite; hand broad
searches to Task, which answers from a fresh context. When the task is done, answer in
plain text."""


def git_status(cwd: Path) -> str | None:
    """A short ``git status`` for the prompt, or None outside a repository."""
    try:
        proc = subprocess.run(
            ["git", "status", "--short", "--branch"], cwd=cwd, capture_output=True, text=True, timeout=3,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    lines = proc.stdout.splitlines()
    if len(lines) > 40:
        lines = lines[:40] + [f"... ({len(lines) - 40} more)"]
    return "\n".join(lines)


def default_system_prompt(cwd: Path, *, today: dt.date | None = None) -> str:
    """Where the model is and how to use the tools (called once per session, in a thread)."""
    today = today or dt.date.today()
    parts = [
        TOOL_GUIDE,
        "",
        "<env>",
        f"Working directory: {cwd}",
        f"Platform: {platform.system().lower()} {platform.release()}",
        f"Today's date: {today.isoformat()}",
    ]
    status = git_status(cwd)
    if status is None:
        parts.append("Is a git repository: no")
    else:
        parts += ["Is a git repository: yes", "git status:", status]
    parts.append("</env>")
    return "\n".join(parts)


def system_blocks(system: str) -> list[dict[str, Any]]:
    """The system prompt as one cached text block."""
    return [{"type": "text", "text": system, "cache_control": dict(EPHEMERAL)}]


def cached_tools(definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool definitions with a breakpoint on the last one (it caches them all)."""
    tools = [dict(d) for d in definitions]
    if tools:
        tools[-1]["cache_control"] = dict(EPHEMERAL)
    return tools


def cached_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of the history with breakpoints on the latest message and the user turn before it.

    The stored history is never changed; only the copies of the marked messages are.
    """
    out = list(messages)
    user_indexes = [i for i, m in enumerate(out) if m["role"] == "user"]
    marks = [len(out) - 1] if out else []
    earlier = [i for i in user_indexes if i < len(out) - 1]
    if earlier:
        marks.append(earlier[-1])
    for i in marks:
        message = copy.deepcopy(out[i])
        content = message["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        markable = [b for b in content if b.get("type") not in ("thinking", "redacted_thinking")]
        if markable and not (markable[-1].get("type") == "text" and not markable[-1].get("text")):
            markable[-1]["cache_control"] = dict(EPHEMERAL)
        message["content"] = content
        out[i] = message
    return out


def build_request(
    *,
    model: str,
    max_tokens: int,
    system: str,
    tools: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    thinking_budget: int = 0,
) -> dict[str, Any]:
    """The keyword arguments of ``client.messages.stream``."""
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens,
        "system": system_blocks(system),
        "messages": cached_messages(messages),
    }
    if tools:
        params["tools"] = cached_tools(tools)
    if thinking_budget:
        params["thinking"] = {"type": "enabled", "budget_tokens": thinking_budget}
    return params
