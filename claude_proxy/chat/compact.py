"""Compaction: the conversation so far becomes one summary message, written by the model.

`Compactor.compact` sends the history with one more user message asking for a summary
(same system prompt and tools, so the request reads the prompt cache and the API
accepts the tool blocks; ``tool_choice: none`` so no tool is called). The new history is
a single user message: the summary, then the working state kept verbatim, the todo
list, the files read and edited, and the last tool results that carry content. The
messages replaced go to ``Conversation.archive`` so the session store keeps everything.

`Compactor.due` says when to compact on its own: when the next request would pass
``chat.auto_compact`` of ``chat.context_window`` tokens, estimated from the last
response's usage plus about four characters a token for what was added since.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from claude_proxy.chat.conversation import Conversation, text_of
from claude_proxy.chat.prompt import build_request
from claude_proxy.pricing import Usage

if TYPE_CHECKING:
    from claude_proxy.chat.api.client import MessagesClient
    from claude_proxy.tools.base import ToolSession

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
SUMMARY_MAX_TOKENS = 8192
RECENT_RESULTS = 3
RESULT_CHARS = 2000
EDIT_TOOLS = {"Write": "file_path", "Edit": "file_path", "MultiEdit": "file_path", "NotebookEdit": "notebook_path"}
READ_TOOLS = {"Read": "file_path", "NotebookRead": "notebook_path"}
QUIET_TOOLS = {"TodoWrite", "TodoRead"}  # their state is kept as the todo list itself

SUMMARY_REQUEST = """\
Your context window is filling up, so this conversation will be replaced by a summary you write now.
Do not call any tool. Write a detailed summary that lets you continue the work without the history:

1. The user's requests and intent, in their own words where it matters.
2. Key technical decisions, constraints and conventions learnt.
3. Files and code: what was read, changed or created, and why; short snippets only where needed.
4. Errors met and how they were fixed; what the user corrected.
5. What is done, what is pending, and the exact next step.

Answer with the summary only."""

CONTINUATION = """\
This session continues a conversation that was compacted because it grew too long. \
The summary of everything before this point follows, then the working state kept verbatim."""


@dataclass
class CompactResult:
    """What one compaction did: tokens before (estimated), messages replaced, the summary."""

    tokens_before: int
    messages_replaced: int
    summary: str
    usage: Usage


def estimate_tokens(value: Any) -> int:
    """About four characters a token, over the JSON text: cheap, and errs high for code."""
    return len(json.dumps(value, ensure_ascii=False)) // CHARS_PER_TOKEN


def working_state(conversation: Conversation, todos: list[dict[str, Any]]) -> str:
    """The state a summary must not paraphrase: todos, files read and edited, recent tool results."""
    from claude_proxy.tools.todo import render_todos

    calls: dict[str, dict[str, Any]] = {}
    read: list[str] = []
    edited: list[str] = []
    results: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for message in conversation.messages:
        content = message["content"]
        if not isinstance(content, list):
            continue
        for block in content:
            kind = block.get("type")
            if kind == "tool_use":
                calls[block["id"]] = block
                tool_input = block.get("input") or {}
                for table, into in ((READ_TOOLS, read), (EDIT_TOOLS, edited)):
                    path = tool_input.get(table.get(block["name"], ""))
                    if isinstance(path, str) and path not in into:
                        into.append(path)
            elif kind == "tool_result" and not block.get("is_error"):
                call = calls.get(block.get("tool_use_id", ""))
                if call is not None and call["name"] not in QUIET_TOOLS:
                    results.append((call, block))
    parts = ["<working-state>", "Todo list:", render_todos(todos) if todos else "(empty)"]
    parts += ["Files read:", *(f"- {p}" for p in read)] if read else ["Files read: none"]
    parts += ["Files edited or created:", *(f"- {p}" for p in edited)] if edited else ["Files edited: none"]
    for call, block in results[-RECENT_RESULTS:]:
        text = text_of(block.get("content") or "")
        cut = f"\n[... {len(text) - RESULT_CHARS} more characters]" if len(text) > RESULT_CHARS else ""
        arguments = json.dumps(call.get("input") or {}, ensure_ascii=False)[:300]
        parts.append(f"Result of {call['name']}({arguments}):\n{text[:RESULT_CHARS]}{cut}")
    parts.append("</working-state>")
    return "\n".join(parts)


class Compactor:
    """Summarises one agent's conversation; knows the client, model, prompt and thresholds."""

    def __init__(self, client: "MessagesClient", *, context_window: int, share: float,
                 session: Callable[[], "ToolSession"]) -> None:
        self.client = client
        self.context_window = context_window
        self.share = share
        self.session = session
        self._known: tuple[int, int] | None = None  # (messages, tokens) after the last response

    def observe(self, conversation: Conversation, usage: Usage) -> None:
        """Remember how big the context was after a response (its input plus its output)."""
        total = (usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
                 + usage.output_tokens)
        self._known = (len(conversation.messages), total)

    def estimate(self, conversation: Conversation, system: str, tools: list[dict[str, Any]],
                 extra: Any = None) -> int:
        """The tokens the next request would carry (``extra``: a prompt not added yet)."""
        added = estimate_tokens(extra) if extra else 0
        if self._known is not None and self._known[0] <= len(conversation.messages):
            count, tokens = self._known
            return tokens + estimate_tokens(conversation.messages[count:]) + added
        return estimate_tokens(conversation.messages) + estimate_tokens(system) + estimate_tokens(tools) + added

    def due(self, tokens: int) -> bool:
        return self.share > 0 and tokens >= self.share * self.context_window

    async def compact(self, conversation: Conversation, *, model: str, system: str, tools: list[dict[str, Any]],
                      instructions: str = "", tokens_before: int | None = None) -> CompactResult:
        """Replace the history by a summary; the replaced messages go to the archive (APIError passes up)."""
        if tokens_before is None:
            tokens_before = self.estimate(conversation, system, tools)
        ask = SUMMARY_REQUEST + (f"\n\nAdditional instructions from the user:\n{instructions}" if instructions else "")
        scratch = Conversation(messages=[dict(m) for m in conversation.messages])
        scratch.close_dangling("not run: the conversation is being compacted")
        scratch.add_user(ask)
        params = build_request(model=model, max_tokens=SUMMARY_MAX_TOKENS, system=system, tools=tools,
                               messages=scratch.messages)
        if tools:
            params["tool_choice"] = {"type": "none"}
        async with self.client.messages.stream(**params) as stream:
            message = await stream.get_final_message()
        summary = "".join(b.get("text", "") for b in message.get("content") or [] if b.get("type") == "text").strip()
        if not summary:
            raise ValueError("the model returned an empty summary")
        state = working_state(conversation, self.session().todos)
        replaced = len(conversation.messages)
        conversation.archive.extend(conversation.messages)
        conversation.messages = [{"role": "user", "content": [
            {"type": "text", "text": f"{CONTINUATION}\n\n<summary>\n{summary}\n</summary>\n\n{state}"}]}]
        self._known = None
        log.debug("compacted %d messages (~%d tokens)", replaced, tokens_before)
        return CompactResult(tokens_before, replaced, summary, Usage.from_api(message.get("usage")))
