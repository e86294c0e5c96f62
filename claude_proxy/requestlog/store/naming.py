"""Naming a split request: its pieces' content names and its conversation keys, remembered per run.

Every row names each piece of its request (a digest, or a cached lookup) and digests each
message to thread the conversation; done afresh, that is a few microseconds per message for
every message of the history, every turn. A conversation's requests share a `Run` of
messages (``pieces``), so what was derived for the run is kept on it (`Run.memo`) and the
next request only names and digests the messages it added.
"""

from __future__ import annotations

from typing import Callable

from claude_proxy.requestlog.store.pieces import Split
from claude_proxy.requestlog.store.threads import extend_keys, message_digest

Keep = Callable[[bytes], bytes]  # names a piece (and holds its content for the row)


def piece_names(parts: Split, keep: Keep, content: dict[bytes, bytes]) -> list[bytes]:
    """The name of each of ``parts.pieces``, in order; the run's come from its memo (into ``content``)."""
    pieces = parts.pieces
    remembered = parts.run.memo.get("names") if parts.run is not None else None
    if remembered is None:
        names = [keep(text) for _, text in pieces]
    else:
        run_names, run_content = remembered
        at = parts.messages_at
        content.update(run_content)
        names = [keep(text) for _, text in pieces[:at]] + run_names
        names += [keep(text) for _, text in pieces[at + len(run_names):]]
    new = parts.new_run
    if new is not None and "names" not in new.memo:
        at = parts.messages_at
        mine = names[at:at + len(new.pieces)]
        new.memo["names"] = (mine, dict(zip(mine, (text for _, text in new.pieces), strict=True)))
    return names


def conversation_keys(parts: Split, names: list[bytes]) -> list[bytes]:
    """keys[j]: the digest of the first j messages, for threading (see ``threads.prefix_keys``)."""
    run = parts.run
    remembered = run.memo.get("threads") if run is not None else None
    start, skip = (len(run.texts), len(run.pieces)) if run is not None and remembered is not None else (0, 0)
    at = parts.messages_at + skip
    named = {id(text): name for (_, text), name in zip(parts.pieces[at:], names[at:], strict=True)}
    texts, values = parts.message_texts, parts.messages
    digests = [message_digest(text, value, named.get(id(text)))
               for text, value in zip(texts[start:], values[start:], strict=True)]
    new = parts.new_run
    mark = len(new.texts) if new is not None and "threads" not in new.memo else -1
    if remembered is not None:
        run_digests, run_keys, hasher = remembered
        keys, at_mark = extend_keys(hasher, run_keys, digests, mark)
        digests = run_digests + digests
    else:
        keys, at_mark = extend_keys(None, [], digests, mark)
    if new is not None and at_mark is not None:
        new.memo["threads"] = (digests[:mark], keys[:mark + 1], at_mark)
    return keys
