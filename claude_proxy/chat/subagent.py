"""Model-backed helpers: the `Task` tool (a sub-agent) and WebFetch's prompt.

`Task` (alias `Agent`) starts a fresh conversation that may use only the read-only
tools, runs it to its end and returns its final answer as the tool result. Calls that
would need the user's approval are denied inside a sub-agent: it cannot ask.
WebFetch's ``prompt`` is answered by the small model over the fetched page, as Claude
Code does, so the main context gets the answer rather than the whole page.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from claude_proxy.chat.ui import AgentUI, ToolCall
from claude_proxy.pricing import Usage
from claude_proxy.tools.base import Tool, ToolContext, ToolResult

if TYPE_CHECKING:
    from claude_proxy.chat.api.client import MessagesClient

log = logging.getLogger(__name__)

SUBAGENT_PROMPT = """\
You are a sub-agent started by another agent to do one self-contained task. You can only
read: search and read files, list directories, fetch pages. Work through the task, then
answer with a complete, concise report; that answer is all the other agent will see."""

WEBFETCH_PROMPT = """\
Below is the content of the web page {url}. Answer the request that follows it using only
that content; quote exactly where precision matters; say so when the page does not contain
the answer.

<page>
{page}
</page>

Request: {prompt}"""

MAX_PAGE_CHARS = 100_000


class TaskTool(Tool):
    """Runs a sub-agent; ``spawn(prompt)`` returns its final answer and an error line (None on success)."""

    name = "Task"
    aliases = ("Agent",)
    read_only = True
    key_argument = "description"
    description = (
        "Start a sub-agent with a fresh context and read-only tools (search, read, list, fetch) to "
        "research one self-contained task, e.g. finding where something is defined across many files. "
        "It returns a single final report. Give it a complete prompt: it cannot see this conversation."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "description": {"type": "string", "description": "A short (3-5 word) description of the task"},
            "prompt": {"type": "string", "description": "The full task for the sub-agent"},
        },
        "required": ["description", "prompt"],
    }

    def __init__(self, spawn: Callable[[str], Awaitable[tuple[str, str | None]]]) -> None:
        self._spawn = spawn

    async def run(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        prompt = tool_input.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return ToolResult.error("Task needs a non-empty 'prompt'")
        answer, error = await self._spawn(prompt)
        if error:
            return ToolResult.error(f"the sub-agent failed: {error}")
        return ToolResult(answer or "(the sub-agent gave no answer)")


class SubagentUI(AgentUI):
    """Forwards the sub-agent's tool activity to the parent front end, indented."""

    def __init__(self, parent: AgentUI) -> None:
        self.parent = parent

    def tool_call(self, call: ToolCall) -> None:
        forward = getattr(self.parent, "subagent_tool_call", None)
        if forward is not None:
            forward(call)


def webfetch_hook(
    client: "MessagesClient", model: str, record: Callable[[str, Usage], None], max_tokens: int = 4096,
) -> Callable[[ToolCall, ToolResult], Awaitable[ToolResult]]:
    """A post-hook for WebFetch results that applies the call's ``prompt`` with the small model.

    ``record(model, usage)`` books the small model's tokens on the session's bill.
    """
    from claude_proxy.chat.api.errors import APIError

    async def apply(call: ToolCall, result: ToolResult) -> ToolResult:
        prompt = call.input.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return result
        page = result.content if isinstance(result.content, str) else "\n".join(
            b.get("text", "") for b in result.content if b.get("type") == "text")
        text = WEBFETCH_PROMPT.format(url=call.input.get("url", ""), page=page[:MAX_PAGE_CHARS], prompt=prompt)
        try:
            reply = await client.messages.create(
                model=model, max_tokens=max_tokens, messages=[{"role": "user", "content": text}],
            )
        except APIError as exc:
            from claude_proxy.chat.client import describe_api_error

            log.debug("WebFetch prompt failed: %s", exc)
            return ToolResult(f"(could not apply the prompt: {describe_api_error(exc)}; the page follows)\n\n{page}")
        record(model, Usage.from_api(reply.get("usage")))
        return ToolResult("".join(b.get("text", "") for b in reply.get("content") or [] if b.get("type") == "text"))

    return apply
