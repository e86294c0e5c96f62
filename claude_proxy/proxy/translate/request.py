"""Anthropic Messages request -> OpenAI chat-completions request.

Pure functions over parsed JSON. What has no chat-completions equivalent (cache_control,
thinking blocks and their signatures, server tools, top_k) is dropped on purpose and
listed in the README; everything else is carried over. Tool names travel as their
`ToolNames` aliases; stop sequences past the backend's limit stay behind for the proxy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from claude_proxy.proxy.translate import jsonio
from claude_proxy.proxy.translate.names import ToolNames
from claude_proxy.proxy.translate.response import provider_tool_id
from claude_proxy.proxy.translate.schema import strip_keywords
from claude_proxy.proxy.translate.stops import split_stop_sequences

if TYPE_CHECKING:
    from claude_proxy.settings import BackendSettings

log = logging.getLogger(__name__)

TOOL_CHOICE = {"auto": "auto", "any": "required", "none": "none"}
# Anthropic effort levels (adaptive thinking) -> OpenAI reasoning_effort
EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "high", "xhigh": "high", "minimal": "low"}


@dataclass(frozen=True)
class TranslateOptions:
    """Per-backend knobs (from BackendSettings) that change the request shape."""

    strip_schema_keywords: tuple[str, ...] = ("$schema",)
    reasoning: str = "none"  # none | effort | openrouter
    max_tokens_field: str = "max_tokens"
    max_tokens_cap: int | None = None
    max_stop_sequences: int = 4
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_backend(cls, backend: BackendSettings) -> TranslateOptions:
        """Options from a ``BackendSettings``."""
        return cls(
            strip_schema_keywords=tuple(backend.strip_schema_keywords),
            reasoning=backend.reasoning,
            max_tokens_field=backend.max_tokens_field,
            max_tokens_cap=backend.max_tokens_cap,
            max_stop_sequences=backend.max_stop_sequences,
        )

    def proxy_stop_sequences(self, body: dict[str, Any]) -> tuple[str, ...]:
        """The request's stop sequences past this backend's limit, which the proxy enforces."""
        return split_stop_sequences(body.get("stop_sequences"), self.max_stop_sequences)[1]


def to_chat_request(body: dict[str, Any], model: str, options: TranslateOptions | None = None,
                    names: ToolNames | None = None) -> dict[str, Any]:
    """The chat-completions request for an Anthropic ``body``, sent as ``model``.

    ``names`` (default: made from ``body``) must be the ones the answer is read back with.
    """
    options = options or TranslateOptions()
    names = names if names is not None else ToolNames.from_request(body)
    out: dict[str, Any] = {"model": model, "messages": to_chat_messages(body, names)}
    if body.get("max_tokens") is not None:
        cap = options.max_tokens_cap
        out[options.max_tokens_field] = min(body["max_tokens"], cap) if cap else body["max_tokens"]
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    stops = split_stop_sequences(body.get("stop_sequences"), options.max_stop_sequences)[0]
    if stops:
        out["stop"] = stops
    tools = [t for t in (_tool(t, options, names) for t in body.get("tools") or []) if t]
    if tools:
        out["tools"] = tools
        _tool_choice(body.get("tool_choice"), out, names)
    user = (body.get("metadata") or {}).get("user_id")
    if user:
        out["user"] = str(user)
    _reasoning(body, options.reasoning, out)
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    out.update(options.extra)
    return out


def _tool(tool: dict[str, Any], options: TranslateOptions, names: ToolNames) -> dict[str, Any] | None:
    if "input_schema" not in tool:
        log.info("dropping Anthropic server tool %r: chat-completions has no equivalent", tool.get("name"))
        return None
    function: dict[str, Any] = {"name": names.alias(tool["name"])}
    if tool.get("description"):
        function["description"] = tool["description"]
    function["parameters"] = strip_keywords(tool["input_schema"], options.strip_schema_keywords)
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _tool_choice(choice: dict[str, Any] | None, out: dict[str, Any], names: ToolNames) -> None:
    if not choice:
        return
    kind = choice.get("type")
    if kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": names.alias(choice["name"])}}
    elif kind in TOOL_CHOICE:
        out["tool_choice"] = TOOL_CHOICE[kind]
    if choice.get("disable_parallel_tool_use") and kind != "none":
        out["parallel_tool_calls"] = False


def reasoning_effort(budget: int | None) -> str:
    """Anthropic's thinking budget as an OpenAI reasoning effort."""
    if budget is None:
        return "medium"
    if budget < 4096:
        return "low"
    if budget < 16384:
        return "medium"
    return "high"


def _reasoning(body: dict[str, Any], mode: str, out: dict[str, Any]) -> None:
    """``thinking`` (a budget, or ``adaptive`` with ``output_config.effort``) as the provider's option."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") in (None, "disabled") or mode == "none":
        return
    budget = thinking.get("budget_tokens")
    effort = (body.get("output_config") or {}).get("effort")
    effort = EFFORTS.get(effort, reasoning_effort(budget)) if isinstance(effort, str) else reasoning_effort(budget)
    if mode == "effort":
        out["reasoning_effort"] = effort
    elif mode == "openrouter":
        out["reasoning"] = {"max_tokens": budget} if budget else {"effort": effort}


def system_text(system: Any) -> str:
    """The text of an Anthropic ``system`` (a string or a list of text blocks)."""
    if isinstance(system, str):
        return system
    return "\n\n".join(b.get("text", "") for b in system or [] if isinstance(b, dict) and b.get("type") == "text")


def to_chat_messages(body: dict[str, Any], names: ToolNames | None = None) -> list[dict[str, Any]]:
    """The chat message list: system first, then each Anthropic message in order."""
    names = names if names is not None else ToolNames.from_request(body)
    messages: list[dict[str, Any]] = []
    system = system_text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for message in body.get("messages") or []:
        role = message.get("role")
        content = message.get("content")
        if role == "system":
            text = system_text(content)
            if text:
                messages.append({"role": "system", "content": text})
        elif role == "assistant":
            assistant = _assistant(content, names)
            if assistant:
                messages.append(assistant)
        else:
            messages.extend(_user(content))
    return messages


def _assistant(content: Any, names: ToolNames) -> dict[str, Any] | None:
    if isinstance(content, str):
        return {"role": "assistant", "content": content} if content else None
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content or []:
        kind = block.get("type")
        if kind == "text":
            if block.get("text"):
                texts.append(block["text"])
        elif kind == "tool_use":
            calls.append({
                "id": provider_tool_id(block["id"]),
                "type": "function",
                "function": {"name": names.alias(block["name"]),
                             "arguments": jsonio.dumps_text(block.get("input") or {})},
            })
        elif kind not in ("thinking", "redacted_thinking"):
            log.debug("dropping assistant block of type %r", kind)
    if not texts and not calls:
        return None
    out: dict[str, Any] = {"role": "assistant", "content": "\n\n".join(texts) if texts else None}
    if calls:
        out["tool_calls"] = calls
    return out


def _user(content: Any) -> list[dict[str, Any]]:
    """Tool results first (as ``tool`` messages), then one user turn: result images, the user's own parts."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tools: list[dict[str, Any]] = []
    result_images: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content or []:
        if block.get("type") == "tool_result":
            text, images = _tool_result(block)
            tools.append({"role": "tool", "tool_call_id": provider_tool_id(block["tool_use_id"]), "content": text})
            if images:
                result_images.append({"type": "text", "text": f"Images returned by tool call {block['tool_use_id']}:"})
                result_images.extend(images)
        else:
            parts.extend(_parts(block))
    out = list(tools)
    parts = result_images + parts  # one user turn after the results: images first, then the user's own
    if len(parts) == 1 and parts[0]["type"] == "text":
        out.append({"role": "user", "content": parts[0]["text"]})
    elif parts:
        out.append({"role": "user", "content": parts})
    return out


def _tool_result(block: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    content = block.get("content")
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    else:
        for part in (p for sub in content or [] for p in _parts(sub)):
            if part["type"] == "text":
                texts.append(part["text"])
            else:
                images.append(part)
    text = "\n\n".join(texts)
    if block.get("is_error") and not text.startswith(("Error", "<tool_use_error>")):
        text = f"Error: {text}" if text else "Error"
    return text, images


def _parts(block: dict[str, Any]) -> list[dict[str, Any]]:
    """One Anthropic content block as chat content parts (a custom-content document may give several)."""
    source = block.get("source")
    if block.get("type") == "document" and isinstance(source, dict) and source.get("type") == "content":
        return _content_document(block, source)
    part = _part(block)
    return [part] if part else []


def _content_document(block: dict[str, Any], source: dict[str, Any]) -> list[dict[str, Any]]:
    """A custom-content document: its title and context as a text part, then each of its blocks."""
    header = [f"{label}: {block[key]}" for key, label in (("title", "Document"), ("context", "Context"))
              if isinstance(block.get(key), str) and block[key]]
    parts = [{"type": "text", "text": "\n".join(header)}] if header else []
    inner = source.get("content")
    if isinstance(inner, str):
        inner = [{"type": "text", "text": inner}]
    for sub in inner if isinstance(inner, list) else []:
        part = _part(sub) if isinstance(sub, dict) and sub.get("type") in ("text", "image") else None
        if part:
            parts.append(part)
    return parts


def _part(block: dict[str, Any]) -> dict[str, Any] | None:
    """One Anthropic content block as a chat content part (None: nothing to carry)."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": block.get("text", "")}
    source = block.get("source")
    if kind in ("image", "document") and isinstance(source, dict) and source.get("type") == "file":
        return _left_out(kind, source)
    if kind == "image":
        url = _source_url(block.get("source") or {})
        return {"type": "image_url", "image_url": {"url": url}} if url else None
    if kind == "document":
        source = block.get("source") or {}
        if source.get("type") == "text":
            return {"type": "text", "text": source.get("data", "")}
        if source.get("type") == "base64":
            name = block.get("title") or "document.pdf"
            data = f"data:{source.get('media_type', 'application/pdf')};base64,{source.get('data', '')}"
            return {"type": "file", "file": {"filename": name, "file_data": data}}
        if source.get("type") == "url":
            return {"type": "text", "text": f"Document: {source.get('url')}"}
    if kind == "search_result":
        texts = [c.get("text", "") for c in block.get("content") or [] if c.get("type") == "text"]
        return {"type": "text", "text": "\n".join([block.get("title", ""), block.get("source", ""), *texts]).strip()}
    log.debug("dropping user block of type %r", kind)
    return None


def _left_out(kind: str, source: dict[str, Any]) -> dict[str, Any]:
    """A Files API block, which the provider cannot fetch: a note in its place, so that the model
    knows something was there and can say so, rather than answer as if it had never been sent."""
    log.info("a Files API %s cannot be sent to this backend; a note is sent in its place", kind)
    return {"type": "text", "text": f"[{kind} {source.get('file_id', '')} from the Files API left out: "
                                    "this model's provider cannot read it]"}


def _source_url(source: dict[str, Any]) -> str | None:
    if source.get("type") == "base64":
        return f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    if source.get("type") == "url":
        return source.get("url")
    return None
