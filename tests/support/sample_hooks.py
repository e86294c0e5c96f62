"""Rewrite hooks used by the tests (loaded by name, like a user's own module)."""

from __future__ import annotations

from claude_proxy.proxy.hooks import HookContext

SEEN: list[HookContext] = []


def tag_metadata(body: dict, context: HookContext) -> dict:
    """Replace the body: add metadata naming the path the hook saw."""
    SEEN.append(context)
    return {**body, "metadata": {"user_id": f"hook:{context.path}"}}


def leave_alone(body: dict, context: HookContext) -> None:
    SEEN.append(context)
    return None


async def async_cap(body: dict, context: HookContext) -> dict:
    body["max_tokens"] = min(body.get("max_tokens", 0), 100)
    return body


def explode(body: dict, context: HookContext) -> dict:
    raise RuntimeError("boom")


NOT_CALLABLE = 42
