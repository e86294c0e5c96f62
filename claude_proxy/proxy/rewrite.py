"""Request rewriting: the configured changes made to a body on its way upstream.

Rules are compiled once at start. A request is parsed only when some rule could
apply to it (`Rewriter.wants`), and its original bytes are forwarded whenever the
rules leave it unchanged, so thinking signatures and prompt-cache prefixes survive.

Which rules see which requests:
- ``model_aliases``, ``system_prepend``/``system_append``, ``append_to_last_user``:
  ``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` (so counts match).
- ``set`` / ``drop``: ``POST /v1/messages`` only (count_tokens rejects e.g. max_tokens).
- ``hooks``: every ``POST /v1/...`` with a JSON body; the context carries the path.

``append_to_last_user`` adds its text exactly as written (the user picks the separator):
to a string, or to the last block when that is text, else as a new text block. A body
the rules cannot read or write back (`jsonbody`) is a 400, never a 500.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from claude_proxy.proxy.errors import ProxyError
from claude_proxy.proxy.hooks import HookContext, LoadedHook
from claude_proxy.proxy.jsonbody import dump, parse_object
from claude_proxy.settings import RewriteSettings

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
_GLOB_CHARS = frozenset("*?[")
SEPARATOR = "\n\n"


@dataclass
class RewriteResult:
    body: bytes
    changed: bool
    requested_model: str | None = None
    upstream_model: str | None = None


class ModelAliases:
    """Client model name -> upstream name; exact names win over globs, globs match in order."""

    def __init__(self, aliases: dict[str, str]) -> None:
        self.exact = {k: v for k, v in aliases.items() if not _GLOB_CHARS & set(k)}
        self.globs = [(k, v) for k, v in aliases.items() if _GLOB_CHARS & set(k)]

    def __bool__(self) -> bool:
        return bool(self.exact or self.globs)

    def resolve(self, model: str) -> str | None:
        if model in self.exact:
            return self.exact[model]
        for pattern, target in self.globs:
            if fnmatch.fnmatchcase(model, pattern):
                return target
        return None


def _add_to_system(body: dict, text: str, *, before: bool) -> None:
    system = body.get("system")
    if system is None or system == "" or system == []:
        body["system"] = text
    elif isinstance(system, str):
        body["system"] = text + SEPARATOR + system if before else system + SEPARATOR + text
    elif isinstance(system, list):
        block = {"type": "text", "text": text}
        body["system"] = [block, *system] if before else [*system, block]
    else:
        raise ProxyError(400, "rewrite: 'system' must be a string or a list of blocks")


def _append_to_last_user(body: dict, text: str) -> bool:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return False
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                message["content"] = content + text
            elif isinstance(content, list):
                last = content[-1] if content else None
                if isinstance(last, dict) and last.get("type") == "text" and isinstance(last.get("text"), str):
                    message["content"] = [*content[:-1], {**last, "text": last["text"] + text}]
                else:
                    message["content"] = [*content, {"type": "text", "text": text}]
            else:
                return False
            return True
    return False


class Rewriter:
    """The compiled `rewrite:` settings plus the loaded hooks."""

    def __init__(self, settings: RewriteSettings, hooks: list[LoadedHook] | None = None) -> None:
        self.aliases = ModelAliases(settings.model_aliases)
        self.system_prepend = settings.system_prepend or None
        self.system_append = settings.system_append or None
        self.append_to_last_user = settings.append_to_last_user or None
        self.set_fields = dict(settings.set)
        self.drop_fields = list(settings.drop)
        self.hooks = list(hooks or [])
        self._message_rules = bool(self.aliases or self.system_prepend or self.system_append
                                   or self.append_to_last_user)
        self._create_rules = self._message_rules or bool(self.set_fields or self.drop_fields)

    @property
    def active(self) -> bool:
        return self._create_rules or bool(self.hooks)

    def wants(self, method: str, path: str, content_type: str) -> bool:
        """Whether this request must be parsed: cheap, called for every request."""
        if method != "POST":
            return False
        if path == MESSAGES_PATH and self._create_rules:
            return True
        if path == COUNT_TOKENS_PATH and self._message_rules:
            return True
        return bool(self.hooks) and path.startswith("/v1/") and "json" in content_type

    async def apply(self, raw: bytes, context: HookContext) -> RewriteResult:
        """Parse, apply every rule that fits, and re-serialise only if something changed."""
        body = parse_object(raw, "a rewrite rule")
        requested = body.get("model") if isinstance(body.get("model"), str) else None
        changed = False
        if context.path in (MESSAGES_PATH, COUNT_TOKENS_PATH):
            changed |= self._apply_message_rules(body, requested)
        if context.path == MESSAGES_PATH:
            changed |= self._apply_fields(body)
        for hook in self.hooks:
            replaced = await _run_hook(hook, body, context)
            if replaced is not None:
                body = replaced
                changed = True
        upstream = body.get("model") if isinstance(body.get("model"), str) else None
        data = dump(body) if changed else raw
        return RewriteResult(data, changed, requested, upstream)

    def _apply_message_rules(self, body: dict, model: str | None) -> bool:
        changed = False
        if self.aliases and model is not None:
            target = self.aliases.resolve(model)
            if target is not None and target != model:
                body["model"] = target
                changed = True
        if self.system_prepend:
            _add_to_system(body, self.system_prepend, before=True)
            changed = True
        if self.system_append:
            _add_to_system(body, self.system_append, before=False)
            changed = True
        if self.append_to_last_user:
            changed |= _append_to_last_user(body, self.append_to_last_user)
        return changed

    def _apply_fields(self, body: dict) -> bool:
        changed = False
        for key, value in self.set_fields.items():
            if key not in body or body[key] != value:
                body[key] = value
                changed = True
        for key in self.drop_fields:
            if key in body:
                del body[key]
                changed = True
        return changed


async def _run_hook(hook: LoadedHook, body: dict, context: HookContext) -> dict | None:
    try:
        result = await hook(body, context)
    except Exception as exc:  # a user hook may fail in any way; the request fails closed
        raise ProxyError(500, f"rewrite hook '{hook.name}' failed: {type(exc).__name__}: {exc}") from exc
    if result is not None and not isinstance(result, dict):
        raise ProxyError(500, f"rewrite hook '{hook.name}' returned {type(result).__name__}, not a dict or None")
    return result
