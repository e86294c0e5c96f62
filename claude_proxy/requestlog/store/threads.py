"""Which session and conversation a request belongs to.

A session is Claude Code's ``x-claude-code-session-id`` when the request has one. Inside
it, and for clients without the header, requests are threaded: a request whose messages
extend an earlier request's messages plus its answer continues that conversation (the
earlier request's thread and session). Messages are compared without ``cache_control``,
which Claude Code moves to the newest message every turn. A conversation that continues
nothing but whose first user message is the prompt of an earlier Task (or Agent) tool call
is that call's subagent: it joins the session that spawned it, with ``parent_id`` naming
the request whose answer made the call. Anything else starts a session of its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol

from claude_proxy.requestlog.jsontext import dumps_canonical
from claude_proxy.requestlog.store.content import DIGEST, digest

SPAWNING_TOOLS = frozenset({"Task", "Agent"})
MAX_LOOKUPS = 32


@dataclass(frozen=True)
class Place:
    """Where a row sits: its session, its conversation (the id of its first row), its spawning row."""

    session_id: str | None
    thread_id: str | None
    parent_id: str | None
    continued: int = 0  # how many of its messages the request it continues already had


class Lookup(Protocol):
    """What threading needs from the store: earlier conversations and Task prompts by digest."""

    def conversation(self, key: bytes) -> Place | None:
        """The newest row whose messages have this digest."""

    def spawn(self, prompt: bytes) -> Place | None:
        """The row whose answer called Task with this prompt."""


def _strip_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_strip_cache_control(v) for v in value]
    return value


_CANONICAL: dict[bytes, bytes] = {}


def message_digest(text: bytes, value: Any, raw: bytes | None = None) -> bytes:
    """A message's digest for threading: its JSON without cache_control, keys sorted (cached by ``raw``,
    the digest of its bytes ``text``, computed here when the caller has not already)."""
    raw = raw or digest(text)
    known = _CANONICAL.get(raw)
    if known is None:
        if b'"cache_control"' in text:
            value = _strip_cache_control(value)
        if isinstance(value, dict) and isinstance(value.get("content"), str):
            # "content": "hi" and [{"type": "text", "text": "hi"}] are the same message to the model.
            value = {**value, "content": [{"type": "text", "text": value["content"]}]}
        canonical = dumps_canonical(value)
        known = digest(canonical.encode("utf-8", "surrogatepass"))  # a lone surrogate a client sent still threads
        if len(_CANONICAL) > 100_000:
            _CANONICAL.clear()
        _CANONICAL[raw] = known
    return known


def prefix_keys(digests: list[bytes]) -> list[bytes]:
    """keys[j]: the digest of the first j messages (keys[0] for none)."""
    keys, _ = extend_keys(None, [], digests)
    return keys


def extend_keys(hasher: Any, keys: list[bytes], digests: list[bytes], mark: int = -1) -> tuple[list[bytes], Any]:
    """`prefix_keys` carried on from ``hasher`` (the state after ``keys``; None: from nothing), and the
    state once ``mark`` messages are in (for the next request of the conversation to carry on from)."""
    if hasher is None:
        hasher = hashlib.blake2b(digest_size=DIGEST)
        keys = [hasher.digest()]
    else:
        hasher = hasher.copy()
        keys = list(keys)
    at_mark = hasher.copy() if mark == len(keys) - 1 else None
    for item in digests:
        hasher.update(item)
        keys.append(hasher.digest())
        if len(keys) - 1 == mark:
            at_mark = hasher.copy()
    return keys, at_mark


def _candidates(messages: list[Any]) -> Iterable[int]:
    """Prefix lengths worth looking up, closest first: a retry (the same messages), the turn before, older answers.

    A lone first message is never a retry: two conversations may well open with the same words.
    """
    k = len(messages)
    seen: set[int] = set()
    order = [k, k - 2] + list(range(k - 1, 0, -1))
    for j in order:
        if j in seen or j < 1 or j > k:
            continue
        seen.add(j)
        answered = j < k and isinstance(messages[j], dict) and messages[j].get("role") == "assistant"
        if answered or (j == k and k > 1):
            yield j
        if len(seen) >= MAX_LOOKUPS:
            return


def first_prompts(messages: list[Any]) -> list[bytes]:
    """Digests of the text of the first user message (whole, and each text block): a subagent's prompt."""
    if not messages or not isinstance(messages[0], dict) or messages[0].get("role") != "user":
        return []
    content = messages[0].get("content")
    texts = [content] if isinstance(content, str) else [
        b.get("text") for b in content if isinstance(b, dict) and b.get("type") == "text"
    ] if isinstance(content, list) else []
    return [prompt_digest(t) for t in texts if isinstance(t, str) and t.strip()]


def prompt_digest(text: str) -> bytes:
    return digest(text.strip().encode("utf-8", "surrogatepass"))  # a lone surrogate still matches


def spawned_prompts(answer: Any) -> list[bytes]:
    """Digests of the prompts this answer's Task (or Agent) calls hand to subagents."""
    if not isinstance(answer, dict):
        return []
    out = []
    for block in answer.get("content") or []:
        if (isinstance(block, dict) and block.get("type") == "tool_use" and block.get("name") in SPAWNING_TOOLS
                and isinstance(block.get("input"), dict) and isinstance(block["input"].get("prompt"), str)):
            out.append(prompt_digest(block["input"]["prompt"]))
    return out


def lookup_keys(messages: list[Any], keys: list[bytes],
                settled: Callable[[bytes], bool] | None = None) -> tuple[list[bytes], list[bytes]]:
    """The conversation keys and Task prompts `place` may look up for these messages, to fetch in one go.

    ``settled(key)``: True when `place` will stop at that key without the store (a row this
    writer already knows); the keys after it are then not needed, nor are the prompts.
    """
    out: list[bytes] = []
    for j in _candidates(messages):
        if settled is not None and settled(keys[j]):
            return out, []
        out.append(keys[j])
    return out, first_prompts(messages)


def place(row_id: str, header_session: str | None, messages: list[Any], keys: list[bytes],
          lookup: Lookup) -> Place:
    """The session, thread and parent of a Messages request with these messages (``keys`` from `prefix_keys`)."""
    for j in _candidates(messages):
        found = lookup.conversation(keys[j])
        if found is None:
            continue
        if header_session is not None and found.session_id != header_session:
            continue
        return Place(found.session_id, found.thread_id, found.parent_id, j)
    for prompt in first_prompts(messages):
        spawner = lookup.spawn(prompt)
        if spawner is not None and (header_session is None or spawner.session_id == header_session):
            return Place(spawner.session_id, row_id, spawner.parent_id)
    return Place(header_session or row_id, row_id, None)
