"""OpenAI chat-completions response -> Anthropic message (non-streaming), and the shared mappings."""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
from typing import Any

log = logging.getLogger(__name__)

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def new_message_id() -> str:
    """An Anthropic-looking message id."""
    return "msg_" + secrets.token_hex(12)


def new_tool_id() -> str:
    """A tool_use id for providers that send none."""
    return "toolu_" + secrets.token_hex(12)


_TOOL_ID_OK = re.compile(r"^[A-Za-z0-9_-]+$")
_ENCODED = "toolu_enc_"


def client_tool_id(provider_id: str | None) -> str:
    """A tool_use id Anthropic accepts; ids with other characters are encoded reversibly.

    Some providers issue ids like ``functions.Read:0``; Anthropic rejects those if the
    conversation later goes there, so they travel base64url-encoded and are decoded
    (`provider_tool_id`) on the way back to the provider.
    """
    if not provider_id:
        return new_tool_id()
    if _TOOL_ID_OK.match(provider_id) and not provider_id.startswith(_ENCODED):
        return provider_id
    return _ENCODED + base64.urlsafe_b64encode(provider_id.encode("utf-8")).decode("ascii").rstrip("=")


def provider_tool_id(client_id: str) -> str:
    """The provider's own id for a tool_use id made by `client_tool_id`."""
    if not client_id.startswith(_ENCODED):
        return client_id
    data = client_id[len(_ENCODED):]
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return client_id


def stop_reason(finish_reason: str | None, has_tool_use: bool) -> str:
    """Anthropic's stop reason; a tool call that ended with a plain "stop" still reads as tool_use."""
    reason = STOP_REASONS.get(finish_reason or "stop", "end_turn")
    if has_tool_use and reason == "end_turn":
        return "tool_use"
    return reason


def usage(raw: dict[str, Any] | None) -> dict[str, int] | None:
    """Anthropic usage from chat-completions usage: cached prompt tokens are reported apart."""
    if not raw:
        return None
    prompt = int(raw.get("prompt_tokens") or 0)
    details = raw.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or raw.get("prompt_cache_hit_tokens") or 0)
    return {
        "input_tokens": max(prompt - cached, 0),
        "output_tokens": int(raw.get("completion_tokens") or 0),
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    }


def reasoning_text(message: dict[str, Any]) -> str:
    """Provider reasoning: ``reasoning_content`` (DeepSeek, vLLM) or ``reasoning`` (OpenRouter)."""
    value = message.get("reasoning_content") or message.get("reasoning")
    return value if isinstance(value, str) else ""


def content_text(content: Any) -> str:
    """Message content that may be a string, null, or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """Tool-call arguments as an object; unparseable ones become ``{}`` (logged) rather than a crash."""
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        log.warning("provider sent tool arguments that are not JSON: %.200r", arguments)
        return {}
    return value if isinstance(value, dict) else {"value": value}


def to_anthropic_message(completion: dict[str, Any], model: str, estimate: int = 0) -> dict[str, Any]:
    """The Anthropic message for a chat-completions JSON response.

    ``model`` is used when the provider names none; ``estimate`` stands in for input
    tokens when the provider reports no usage, so clients that compact on usage still do.
    """
    choices = completion.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    thinking = reasoning_text(message)
    if thinking:
        content.append({"type": "thinking", "thinking": thinking, "signature": ""})
    text = content_text(message.get("content")) or (message.get("refusal") or "")
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append({
            "type": "tool_use",
            "id": client_tool_id(call.get("id")),
            "name": function.get("name", ""),
            "input": parse_arguments(function.get("arguments")),
        })
    has_tools = any(b["type"] == "tool_use" for b in content)
    mapped = usage(completion.get("usage")) or {
        "input_tokens": estimate,
        "output_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }
    return {
        "id": new_message_id(),
        "type": "message",
        "role": "assistant",
        "model": completion.get("model") or model,
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason"), has_tools),
        "stop_sequence": None,
        "usage": mapped,
    }
