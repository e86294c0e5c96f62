"""OpenAI chat-completions response -> Anthropic message (non-streaming), and the shared mappings."""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
from typing import TYPE_CHECKING, Any, Sequence

from claude_proxy.proxy.translate.stops import cut_at_stop
from claude_proxy.proxy.translate.tokens import text_tokens

if TYPE_CHECKING:
    from claude_proxy.proxy.translate.names import ToolNames

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
    if not isinstance(raw, dict) or not raw:
        return None
    prompt = _count(raw.get("prompt_tokens"))
    details = raw.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else 0
    cached = cached or _count(raw.get("prompt_cache_hit_tokens"))
    return {
        "input_tokens": max(prompt - cached, 0),
        "output_tokens": _count(raw.get("completion_tokens")),
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    }


def _count(value: Any) -> int:
    """A token count from a provider, which may be missing or of the wrong type."""
    return int(value) if isinstance(value, (int, float)) and value > 0 else 0


def reasoning_text(message: dict[str, Any]) -> str:
    """Provider reasoning: ``reasoning_content`` (DeepSeek, vLLM) or ``reasoning`` (OpenRouter)."""
    value = message.get("reasoning_content") or message.get("reasoning")
    return value if isinstance(value, str) else ""


def content_text(content: Any) -> str:
    """Message content that may be a string, null, or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
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


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def to_anthropic_message(completion: dict[str, Any], model: str, estimate: int = 0, *,
                         names: ToolNames | None = None, stop_sequences: Sequence[str] = ()) -> dict[str, Any]:
    """The Anthropic message for a chat-completions JSON response.

    ``model`` is used when the provider names none; ``estimate`` stands in for input
    tokens when the provider reports no usage, so clients that compact on usage still do.
    Fields of the wrong type are treated as absent rather than trusted. ``names`` turns
    tool-name aliases back into the client's names; at the first of ``stop_sequences``
    the text is cut and the answer ends there (tool calls after it were never made).
    """
    choices = completion.get("choices")
    choice = _dict(choices[0]) if isinstance(choices, list) and choices else {}
    message = _dict(choice.get("message"))
    content: list[dict[str, Any]] = []
    thinking = reasoning_text(message)
    if thinking:
        content.append({"type": "thinking", "thinking": thinking, "signature": ""})
    text = content_text(message.get("content")) or _str(message.get("refusal"))
    text, matched = cut_at_stop(text, stop_sequences) if stop_sequences else (text, None)
    if text:
        content.append({"type": "text", "text": text})
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) and matched is None else []:
        call = _dict(call)
        function = _dict(call.get("function"))
        content.append({
            "type": "tool_use",
            "id": client_tool_id(call.get("id") if isinstance(call.get("id"), str) else None),
            "name": names.original(_str(function.get("name"))) if names else _str(function.get("name")),
            "input": parse_arguments(function.get("arguments")),
        })
    has_tools = any(b["type"] == "tool_use" for b in content)
    mapped = usage(completion.get("usage")) or {
        "input_tokens": estimate,
        "output_tokens": text_tokens(text + thinking),
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }
    finish = choice.get("finish_reason")
    return {
        "id": new_message_id(),
        "type": "message",
        "role": "assistant",
        "model": _str(completion.get("model")) or model,
        "content": content,
        "stop_reason": "stop_sequence" if matched else stop_reason(finish if isinstance(finish, str) else None,
                                                                   has_tools),
        "stop_sequence": matched,
        "usage": mapped,
    }
