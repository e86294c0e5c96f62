"""`/save PATH`: the conversation as a readable Markdown transcript."""

from __future__ import annotations

import json
from typing import Any

from claude_proxy.chat.conversation import Conversation


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", f"[{b.get('type')}]") for b in content or [])


def _fenced(text: str, lang: str = "") -> str:
    fence = "````" if "```" in text else "```"
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def to_markdown(conversation: Conversation) -> str:
    """Every prompt, answer, tool call and tool result, in order."""
    out = [f"# {conversation.title or 'Chat'}", "",
           f"Session `{conversation.id}` · model `{conversation.model}` · `{conversation.cwd}`", ""]
    for message in conversation.messages:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        heading = "## You" if message["role"] == "user" else "## Claude"
        parts: list[str] = []
        for block in blocks:
            kind = block.get("type")
            if kind == "text" and block.get("text", "").strip():
                parts.append(block["text"].strip())
            elif kind == "thinking":
                parts.append("> " + block.get("thinking", "").strip().replace("\n", "\n> "))
            elif kind == "tool_use":
                parts.append(f"**Tool call** `{block['name']}`\n\n"
                             + _fenced(json.dumps(block.get("input", {}), indent=2, ensure_ascii=False), "json"))
            elif kind == "tool_result":
                label = "**Tool error**" if block.get("is_error") else "**Tool result**"
                parts.append(f"{label}\n\n" + _fenced(_result_text(block.get("content"))))
        if parts:
            out += [heading, "", "\n\n".join(parts), ""]
    return "\n".join(out)
