"""Splitting a request body into a skeleton and pieces, fast when the pieces recur.

`split` cuts the exact text of ``system``, ``tools`` and each of ``messages`` out of a
body, leaving a skeleton (everything else, byte for byte); ``content`` names and stores
them. The writer splits every request, so recurring text is found again rather than
parsed again (`SplitCache`):

- a value met before (the tools array, the system prompt, a message) is recognised by its
  first characters and one comparison;
- a conversation's requests each start their messages with the previous request's
  messages (all but its last, which loses the ``cache_control`` the client moves forward).
  That run is kept as a `Run` and matched whole with one comparison, carrying its pieces
  already cut and whatever the writer derived from it before (`Run.memo`), so a request's
  cost grows with the messages it added, not with the length of its history.
"""

from __future__ import annotations

import collections
import json
import re
from dataclasses import dataclass, field
from typing import Any

# Pieces shorter than this stay in the skeleton: naming them costs more than they weigh.
MIN_PIECE = 96
_WS = re.compile(r"[ \t\n\r]*")
_decoder = json.JSONDecoder()
_SELF_ENDING = '{["'  # values whose text says where they end (numbers and literals depend on what follows)

# (start, end, kind, earlier text) of a piece; for kind "run", the `Run` matched there.
_Span = tuple[int, int, str, Any]


@dataclass(eq=False)
class Run:
    """The first messages of a request, as it sent them: a later request of the conversation starts with them."""

    text: str
    texts: list[str]  # each message's exact text (the very objects: names are cached by them)
    values: list[Any]
    skeleton: str  # `text` with its pieces cut out
    pieces: list[tuple[int, str]]  # (offset in `skeleton`, text)
    memo: dict[str, Any] = field(default_factory=dict)  # what a writer derived from these messages

    def placed(self, base: int) -> list[tuple[int, str]]:
        """The pieces with their offsets in a skeleton where this run's starts at ``base``."""
        known = self.memo.get("placed")
        if known is not None and known[0] == base:
            return known[1]
        out = [(base + offset, text) for offset, text in self.pieces]
        self.memo["placed"] = (base, out)
        return out


@dataclass
class Split:
    """A body cut into a skeleton and pieces; ``messages`` are every message's parsed value, in order."""

    skeleton: str
    pieces: list[tuple[int, str]] = field(default_factory=list)  # (offset in the skeleton, exact text)
    messages: list[Any] = field(default_factory=list)
    message_texts: list[str] = field(default_factory=list)
    system: Any = None
    fields: dict[str, Any] = field(default_factory=dict)  # the other top-level values (model, stream, ...)
    whole: bool = False  # the text is one JSON object and nothing else (whitespace aside)
    messages_at: int = 0  # index in `pieces` of the first message's piece
    run: Run | None = None  # the earlier run the messages start with (its pieces come first at `messages_at`)
    new_run: Run | None = None  # this request's run, kept for the next request of the conversation


def _cut(text: str, start: int, end: int, spans: list[_Span]) -> tuple[str, list[tuple[int, str]]]:
    """``text[start:end]`` with the spans' pieces cut out, and the pieces with their offsets in what is left."""
    kept: list[str] = []
    pieces: list[tuple[int, str]] = []
    cursor = removed = start
    for a, b, _, seen in spans:
        if b - a < MIN_PIECE:
            continue
        kept.append(text[cursor:a])
        pieces.append((a - removed, seen if seen is not None else text[a:b]))
        removed += b - a
        cursor = b
    kept.append(text[cursor:end])
    return "".join(kept), pieces


class SplitCache:
    """Values and runs of messages met before, found again by their first characters (see the module)."""

    PREFIX = 96
    LIMIT = 4096
    RUNS_PER_PREFIX = 16  # conversations that open with the same words
    RUN_CHARS = 16 * 1024 * 1024  # the histories kept, in characters; the least recently met go first

    def __init__(self) -> None:
        self._seen: dict[str, list[tuple[str, Any]]] = {}
        self._runs: dict[str, list[Run]] = {}
        self._recent: collections.OrderedDict[int, Run] = collections.OrderedDict()  # by id, oldest first
        self._run_chars = 0

    def find(self, text: str, i: int) -> tuple[Any, int, str] | None:
        """The value at ``i``, where it ends, and its earlier text (the very object: its name is cached by it)."""
        for known, value in self._seen.get(text[i:i + self.PREFIX], ()):
            if text.startswith(known, i):
                return value, i + len(known), known
        return None

    def add(self, text: str, i: int, end: int, value: Any) -> None:
        if end - i < MIN_PIECE or text[i] not in _SELF_ENDING:
            return
        if len(self._seen) >= self.LIMIT:
            self._seen.clear()
        bucket = self._seen.setdefault(text[i:i + self.PREFIX], [])
        bucket.insert(0, (text[i:end], value))
        del bucket[4:]

    def find_run(self, text: str, i: int) -> Run | None:
        """The longest known run of messages that the messages at ``i`` start with."""
        for run in self._runs.get(text[i:i + self.PREFIX], ()):
            if text.startswith(run.text, i):
                self._recent.move_to_end(id(run))
                return run
        return None

    def add_run(self, run: Run) -> None:
        if len(run.text) < self.PREFIX:
            return  # too short to be told apart by its first characters (and cheap to parse anyway)
        key = run.text[:self.PREFIX]
        for old in [r for r in self._runs.get(key, ()) if run.text.startswith(r.text)]:  # its earlier turns
            self._forget(old)
        bucket = self._runs.setdefault(key, [])  # after forgetting: that may have dropped an emptied bucket
        bucket.append(run)
        bucket.sort(key=lambda r: -len(r.text))
        self._recent[id(run)] = run
        self._run_chars += len(run.text)
        if len(bucket) > self.RUNS_PER_PREFIX:
            self._forget(bucket[-1])
        while self._run_chars > self.RUN_CHARS and len(self._recent) > 1:
            self._forget(next(iter(self._recent.values())))

    def _forget(self, run: Run) -> None:
        key = run.text[:self.PREFIX]
        bucket = self._runs.get(key, [])
        if run in bucket:
            bucket.remove(run)
            if not bucket:
                del self._runs[key]
        if self._recent.pop(id(run), None) is not None:
            self._run_chars -= len(run.text)


def _value(text: str, i: int, cache: SplitCache | None) -> tuple[Any, int, str | None]:
    if cache is not None:
        found = cache.find(text, i)
        if found is not None:
            return found
    value, end = _decoder.raw_decode(text, i)
    if cache is not None:
        cache.add(text, i, end, value)
    return value, end, None


def _ws(text: str, i: int) -> int:
    match = _WS.match(text, i)
    return match.end() if match else i


def _next_run(text: str, first: int, run: Run | None, spans: list[_Span], values: list[Any]) -> Run | None:
    """This request's run: the earlier ``run`` (at ``first``) and the messages after it but the last."""
    keep = spans[:-1]
    if not keep or text[keep[-1][0]] not in _SELF_ENDING:
        return None  # nothing past the earlier run, or a last value whose end depends on what follows
    end = keep[-1][1]
    texts = [seen if seen is not None else text[a:b] for a, b, _, seen in keep]
    if run is None:
        skeleton, pieces = _cut(text, first, end, keep)
        return Run(text[first:end], texts, values[:len(keep)], skeleton, pieces)
    after = first + len(run.text)
    skeleton, pieces = _cut(text, after, end, keep)
    shift = len(run.skeleton)
    return Run(text[first:end], run.texts + texts, run.values + values[:len(keep)], run.skeleton + skeleton,
               run.pieces + [(shift + offset, piece) for offset, piece in pieces])


def _messages(text: str, i: int, cache: SplitCache | None, out: Split, spans: list[_Span]) -> int | None:
    """Read the messages array whose first message is at ``i``; where it ends, or None if it is not one."""
    first = i
    runs = cache is not None and not out.messages and out.run is None  # only the first "messages" key has runs
    run = cache.find_run(text, i) if runs and cache is not None else None
    new: list[_Span] = []
    values: list[Any] = []
    if run is not None:  # the conversation so far, as the previous request sent it
        spans.append((first, first + len(run.text), "run", run))
        out.messages.extend(run.values)
        out.run = run
        i = _ws(text, first + len(run.text))
        if text.startswith("]", i):
            return i + 1
        if not text.startswith(",", i):
            return None
        i = _ws(text, i + 1)
    while True:
        value, end, seen = _value(text, i, cache)
        new.append((i, end, "message", seen))
        values.append(value)
        i = _ws(text, end)
        if text.startswith(",", i):
            i = _ws(text, i + 1)
            continue
        if not text.startswith("]", i):
            return None
        break
    spans.extend(new)
    out.messages.extend(values)
    if runs and cache is not None:
        out.new_run = _next_run(text, first, run, new, values)
        if out.new_run is not None:
            cache.add_run(out.new_run)
    return i + 1


def _spans(text: str, cache: SplitCache | None, out: Split) -> list[_Span] | None:
    """The spans of ``system``, ``tools``, the messages (runs and each one), filling ``out``'s values;
    None if the text is not a JSON object."""
    spans: list[_Span] = []
    i = _ws(text, 0)
    if not text.startswith("{", i):
        return None
    i = _ws(text, i + 1)
    if text.startswith("}", i):
        out.whole = _ws(text, i + 1) == len(text)
        return spans
    while True:
        key, i = _decoder.raw_decode(text, i)
        i = _ws(text, i)
        if not isinstance(key, str) or not text.startswith(":", i):
            return None
        i = _ws(text, i + 1)
        if key == "messages" and text.startswith("[", i):
            i = _ws(text, i + 1)
            if text.startswith("]", i):
                i += 1
            else:
                found = _messages(text, i, cache, out, spans)
                if found is None:
                    return None
                i = found
        else:
            if key in ("system", "tools"):
                value, end, seen = _value(text, i, cache)
                spans.append((i, end, key, seen))
                if key == "system":
                    out.system = value
            else:
                out.fields[key], end = _decoder.raw_decode(text, i)
            i = end
        i = _ws(text, i)
        if text.startswith(",", i):
            i = _ws(text, i + 1)
            continue
        if text.startswith("}", i):
            out.whole = _ws(text, i + 1) == len(text)
            return spans
        return None


def split(text: str, cache: SplitCache | None = None) -> Split:
    """Cut ``text`` into a skeleton and pieces; a body that is not a JSON object is all skeleton."""
    out = Split("")
    try:
        spans = _spans(text, cache, out)
    except (ValueError, RecursionError):
        spans = None
    if spans is None:
        return Split(text)
    kept: list[str] = []
    cursor = removed = 0
    seen_messages = False
    for start, end, kind, seen in spans:
        if kind == "run":
            run: Run = seen
            out.message_texts.extend(run.texts)
            out.messages_at, seen_messages = len(out.pieces), True
            kept.append(text[cursor:start])
            out.pieces.extend(run.placed(start - removed))
            kept.append(run.skeleton)
            removed += len(run.text) - len(run.skeleton)
            cursor = end
            continue
        piece = seen if seen is not None else text[start:end]
        if kind == "message":
            out.message_texts.append(piece)
            if not seen_messages:
                out.messages_at, seen_messages = len(out.pieces), True
        if end - start < MIN_PIECE:
            continue
        kept.append(text[cursor:start])
        out.pieces.append((start - removed, piece))
        removed += end - start
        cursor = end
    kept.append(text[cursor:])
    out.skeleton = "".join(kept)
    return out
