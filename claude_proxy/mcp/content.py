"""Tool results across the MCP boundary, in both directions, within our output limits.

`from_mcp` turns an MCP ``CallToolResult`` into our `ToolResult` (text joined, images
kept as Anthropic image blocks, other content described in a line), cut to the same
character budget as the Bash tool (``tools.bash.max_output_chars``: head and tail kept,
the middle cut and counted), so a chatty server cannot flood the context.
`to_mcp_content` is the other way, for ``claude-proxy mcp`` serving our tools.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types

from claude_proxy.tools.base import ToolResult

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def cut_middle(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters: two thirds from the head, the rest from the tail."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n\n[... {cut} characters cut from the middle of {len(text)} ...]\n\n{text[-tail:]}"


def _describe(block: Any) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.EmbeddedResource):
        inner = block.resource
        if isinstance(inner, types.TextResourceContents):
            return f"[resource {inner.uri}]\n{inner.text}"
        return f"[binary resource {inner.uri} ({inner.mime_type or 'unknown type'}), not shown]"
    if isinstance(block, types.ResourceLink):
        return f"[resource link {block.uri}: {block.name}]"
    if isinstance(block, types.ImageContent):
        return f"[image of type {block.mime_type}, not shown: the model reads only jpeg, png, gif and webp]"
    if isinstance(block, types.AudioContent):
        return f"[audio of type {block.mime_type}, not shown]"
    return f"[{getattr(block, 'type', 'unknown')} content, not shown]"


def from_mcp(result: types.CallToolResult, limit: int) -> ToolResult:
    """Our result for an MCP tool's answer; ``limit`` caps the text as for our own tools."""
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for block in result.content:
        if isinstance(block, types.ImageContent) and block.mime_type in IMAGE_TYPES:
            images.append({"type": "image", "source": {"type": "base64", "media_type": block.mime_type,
                                                       "data": block.data}})
        else:
            texts.append(_describe(block))
    if not texts and not images and result.structured_content is not None:
        texts.append(json.dumps(result.structured_content, ensure_ascii=False))
    text = cut_middle("\n".join(texts), limit)
    if result.is_error:
        return ToolResult.error(text or "the MCP tool reported an error without a message")
    if not images:
        return ToolResult(text or "(no output)")
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    return ToolResult(blocks + images)


def to_mcp_content(result: ToolResult) -> list[types.TextContent | types.ImageContent]:
    """Our result's content as MCP content blocks (text, and images as base64)."""
    if isinstance(result.content, str):
        return [types.TextContent(type="text", text=result.content)]
    out: list[types.TextContent | types.ImageContent] = []
    for block in result.content:
        source = block.get("source") or {}
        if block.get("type") == "image" and source.get("type") == "base64":
            out.append(types.ImageContent(type="image", data=source["data"], mime_type=source["media_type"]))
        else:
            out.append(types.TextContent(type="text", text=str(block.get("text", ""))))
    return out
