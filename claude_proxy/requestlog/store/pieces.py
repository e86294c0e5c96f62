"""Splitting a request body into a skeleton and pieces, fast when the pieces recur.

`split` cuts the exact bytes of ``system``, ``tools`` and each of ``messages`` out of a
body, leaving a skeleton (everything else, byte for byte); ``content`` names and stores
them. The writer splits every request, so recurring bytes are found again rather than
parsed again (`SplitCache`):

- a value met before (the tools array, the system prompt, a message) is recognised by its
  first characters and one comparison;
- a conversation's requests each start their messages with the previous request's
  messages (all but its last, which loses the ``cache_control`` the client moves forward).
  That run is kept as a `Run` and matched whole with one comparison, carrying its pieces
  already cut and whatever the writer derived from it before (`Run.memo`), so a request's
  cost grows with the messages it added, not with the length of its history.

The body is never decoded as a whole. Claude Code's system prompt holds an emoji, so its
requests decode to four bytes a character: decoding and comparing them as text cost the
writer more than all the rest of its splitting. Only what is parsed (the top-level keys and
small values, and values met for the first time) is decoded, a window at a time (`_parse`).
"""

from __future__ import annotations

import collections
import json
import re
from dataclasses import dataclass, field
from typing import Any

# Pieces shorter than this stay in the skeleton: naming them costs more than they weigh.
MIN_PIECE = 96
WINDOW = 4096  # bytes decoded at first to parse one value (more when it does not end in them)
SMALL_WINDOW = 256  # the same for a key or a field other than system, tools and messages (usually short)
_WS = re.compile(rb"[ \t\n\r]*")
_KEY = re.compile(rb'"([^"\\\x00-\x1f\x80-\xff]*)"')  # an ASCII key without escapes: read without a parse
_decoder = json.JSONDecoder()
_SELF_ENDING = frozenset(b'{["')  # values whose text says where they end (numbers and literals depend on what follows)

# (start, end, kind, earlier text) of a piece; for kind "run", the `Run` matched there.
_Span = tuple[int, int, str, Any]


@dataclass(eq=False)
class Run:
    """The first messages of a request, as it sent them: a later request of the conversation starts with them."""

    data: bytes
    texts: list[bytes]  # each message's exact bytes (the very objects: names are cached by them)
    values: list[Any]
    skeleton: bytes  # `data` with its pieces cut out
    pieces: list[tuple[int, bytes]]  # (offset in `skeleton`, bytes)
    memo: dict[str, Any] = field(default_factory=dict)  # what a writer derived from these messages

    def placed(self, base: int) -> list[tuple[int, bytes]]:
        """The pieces with their offsets in a skeleton where this run's starts at ``base``."""
        known = self.memo.get("placed")
        if known is not None and known[0] == base:
            return known[1]
        out = [(base + offset, text) for offset, text in self.pieces]
        self.memo["placed"] = (base, out)
        return out


@dataclass
class Split:
    """A body cut into a skeleton and pieces; ``messages`` are every message's parsed value, in order.

    Offsets are in bytes; the skeleton and pieces are the body's own bytes.
    """

    skeleton: bytes
    pieces: list[tuple[int, bytes]] = field(default_factory=list)  # (offset in the skeleton, exact bytes)
    messages: list[Any] = field(default_factory=list)
    message_texts: list[bytes] = field(default_factory=list)
    system: Any = None
    fields: dict[str, Any] = field(default_factory=dict)  # the other top-level values (model, stream, ...)
    whole: bool = False  # the body is one JSON object in valid UTF-8 and nothing else (whitespace aside)
    messages_at: int = 0  # index in `pieces` of the first message's piece
    run: Run | None = None  # the earlier run the messages start with (its pieces come first at `messages_at`)
    new_run: Run | None = None  # this request's run, kept for the next request of the conversation


def _cut(data: bytes, start: int, end: int, spans: list[_Span]) -> tuple[bytes, list[tuple[int, bytes]]]:
    """``data[start:end]`` with the spans' pieces cut out, and the pieces with their offsets in what is left."""
    kept: list[bytes] = []
    pieces: list[tuple[int, bytes]] = []
    cursor = removed = start
    for a, b, _, seen in spans:
        if b - a < MIN_PIECE:
            continue
        kept.append(data[cursor:a])
        pieces.append((a - removed, seen if seen is not None else data[a:b]))
        removed += b - a
        cursor = b
    kept.append(data[cursor:end])
    return b"".join(kept), pieces


class SplitCache:
    """Values and runs of messages met before, found again by their first bytes (see the module)."""

    PREFIX = 96
    LIMIT = 4096
    RUNS_PER_PREFIX = 16  # conversations that open with the same words
    RUN_BYTES = 16 * 1024 * 1024  # the histories kept; the least recently met go first

    def __init__(self) -> None:
        self._seen: dict[bytes, list[tuple[bytes, Any]]] = {}
        self._runs: dict[bytes, list[Run]] = {}
        self._recent: collections.OrderedDict[int, Run] = collections.OrderedDict()  # by id, oldest first
        self._run_bytes = 0

    def find(self, data: bytes, i: int) -> tuple[Any, int, bytes] | None:
        """The value at ``i``, where it ends, and its earlier bytes (the very object: its name is cached by it)."""
        for known, value in self._seen.get(data[i:i + self.PREFIX], ()):
            if data.startswith(known, i):
                return value, i + len(known), known
        return None

    def add(self, data: bytes, i: int, end: int, value: Any) -> None:
        if end - i < MIN_PIECE or data[i] not in _SELF_ENDING:
            return
        if len(self._seen) >= self.LIMIT:
            self._seen.clear()
        bucket = self._seen.setdefault(data[i:i + self.PREFIX], [])
        bucket.insert(0, (data[i:end], value))
        del bucket[4:]

    def find_run(self, data: bytes, i: int) -> Run | None:
        """The longest known run of messages that the messages at ``i`` start with."""
        for run in self._runs.get(data[i:i + self.PREFIX], ()):
            if data.startswith(run.data, i):
                self._recent.move_to_end(id(run))
                return run
        return None

    def add_run(self, run: Run) -> None:
        if len(run.data) < self.PREFIX:
            return  # too short to be told apart by its first bytes (and cheap to parse anyway)
        key = run.data[:self.PREFIX]
        for old in [r for r in self._runs.get(key, ()) if run.data.startswith(r.data)]:  # its earlier turns
            self._forget(old)
        bucket = self._runs.setdefault(key, [])  # after forgetting: that may have dropped an emptied bucket
        bucket.append(run)
        bucket.sort(key=lambda r: -len(r.data))
        self._recent[id(run)] = run
        self._run_bytes += len(run.data)
        if len(bucket) > self.RUNS_PER_PREFIX:
            self._forget(bucket[-1])
        while self._run_bytes > self.RUN_BYTES and len(self._recent) > 1:
            self._forget(next(iter(self._recent.values())))

    def _forget(self, run: Run) -> None:
        key = run.data[:self.PREFIX]
        bucket = self._runs.get(key, [])
        if run in bucket:
            bucket.remove(run)
            if not bucket:
                del self._runs[key]
        if self._recent.pop(id(run), None) is not None:
            self._run_bytes -= len(run.data)


def _parse(data: bytes, i: int, window: int = WINDOW) -> tuple[Any, int]:
    """The JSON value at byte ``i`` and the byte where it ends, decoding only a window from ``i``.

    The window grows until the value ends inside it. A value that ends inside a window is
    the value a parse of the whole body finds there, except a number or literal that ends
    with the window: that one is read again with more. Invalid UTF-8 raises (a ValueError).
    """
    size = len(data)
    while True:
        stop = min(size, i + window)
        while stop < size and data[stop] & 0xC0 == 0x80:  # not inside a character
            stop -= 1
        chunk = data[i:stop]
        text = chunk.decode("utf-8")
        try:
            value, end = _decoder.raw_decode(text)
        except ValueError:
            if stop >= size:
                raise
            window *= 4
            continue
        if end == len(text) and stop < size and data[i] not in _SELF_ENDING:
            window *= 4
            continue
        return value, i + (end if len(text) == len(chunk) else len(text[:end].encode("utf-8")))


def _value(data: bytes, i: int, cache: SplitCache | None) -> tuple[Any, int, bytes | None]:
    if cache is not None:
        found = cache.find(data, i)
        if found is not None:
            return found
    value, end = _parse(data, i)
    if cache is not None:
        cache.add(data, i, end, value)
    return value, end, None


def _ws(data: bytes, i: int) -> int:
    if i < len(data) and data[i] > 0x20:  # compact JSON: no whitespace to skip
        return i
    match = _WS.match(data, i)
    return match.end() if match else i


def _next_run(data: bytes, first: int, run: Run | None, spans: list[_Span], values: list[Any]) -> Run | None:
    """This request's run: the earlier ``run`` (at ``first``) and the messages after it but the last."""
    keep = spans[:-1]
    if not keep or data[keep[-1][0]] not in _SELF_ENDING:
        return None  # nothing past the earlier run, or a last value whose end depends on what follows
    end = keep[-1][1]
    texts = [seen if seen is not None else data[a:b] for a, b, _, seen in keep]
    if run is None:
        skeleton, pieces = _cut(data, first, end, keep)
        return Run(data[first:end], texts, values[:len(keep)], skeleton, pieces)
    after = first + len(run.data)
    skeleton, pieces = _cut(data, after, end, keep)
    shift = len(run.skeleton)
    return Run(data[first:end], run.texts + texts, run.values + values[:len(keep)], run.skeleton + skeleton,
               run.pieces + [(shift + offset, piece) for offset, piece in pieces])


def _messages(data: bytes, i: int, cache: SplitCache | None, out: Split, spans: list[_Span]) -> int | None:
    """Read the messages array whose first message is at ``i``; where it ends, or None if it is not one."""
    first = i
    runs = cache is not None and not out.messages and out.run is None  # only the first "messages" key has runs
    run = cache.find_run(data, i) if runs and cache is not None else None
    new: list[_Span] = []
    values: list[Any] = []
    if run is not None:  # the conversation so far, as the previous request sent it
        spans.append((first, first + len(run.data), "run", run))
        out.messages.extend(run.values)
        out.run = run
        i = _ws(data, first + len(run.data))
        if data.startswith(b"]", i):
            return i + 1
        if not data.startswith(b",", i):
            return None
        i = _ws(data, i + 1)
    while True:
        value, end, seen = _value(data, i, cache)
        new.append((i, end, "message", seen))
        values.append(value)
        i = _ws(data, end)
        if data.startswith(b",", i):
            i = _ws(data, i + 1)
            continue
        if not data.startswith(b"]", i):
            return None
        break
    spans.extend(new)
    out.messages.extend(values)
    if runs and cache is not None:
        out.new_run = _next_run(data, first, run, new, values)
        if out.new_run is not None:
            cache.add_run(out.new_run)
    return i + 1


def _key(data: bytes, i: int) -> tuple[Any, int]:
    match = _KEY.match(data, i)
    if match is not None:
        return match[1].decode("ascii"), match.end()
    return _parse(data, i, SMALL_WINDOW)


def _spans(data: bytes, cache: SplitCache | None, out: Split) -> list[_Span] | None:
    """The spans of ``system``, ``tools``, the messages (runs and each one), filling ``out``'s values;
    None if the body is not a JSON object."""
    spans: list[_Span] = []
    i = _ws(data, 0)
    if not data.startswith(b"{", i):
        return None
    i = _ws(data, i + 1)
    if data.startswith(b"}", i):
        out.whole = _ws(data, i + 1) == len(data)
        return spans
    while True:
        key, i = _key(data, i)
        i = _ws(data, i)
        if not isinstance(key, str) or not data.startswith(b":", i):
            return None
        i = _ws(data, i + 1)
        if key == "messages" and data.startswith(b"[", i):
            i = _ws(data, i + 1)
            if data.startswith(b"]", i):
                i += 1
            else:
                found = _messages(data, i, cache, out, spans)
                if found is None:
                    return None
                i = found
        else:
            if key in ("system", "tools"):
                value, end, seen = _value(data, i, cache)
                spans.append((i, end, key, seen))
                if key == "system":
                    out.system = value
            else:
                out.fields[key], end = _parse(data, i, SMALL_WINDOW)
            i = end
        i = _ws(data, i)
        if data.startswith(b",", i):
            i = _ws(data, i + 1)
            continue
        if data.startswith(b"}", i):
            out.whole = _ws(data, i + 1) == len(data)
            return spans
        return None


def split(data: bytes | str, cache: SplitCache | None = None) -> Split:
    """Cut ``data`` into a skeleton and pieces; a body that is not a JSON object in UTF-8 is all skeleton.

    Text is split as its UTF-8 bytes (those it cannot be encoded to stay whole).
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    out = Split(b"")
    try:
        spans = _spans(data, cache, out)
    except (ValueError, RecursionError):  # UnicodeDecodeError among them: not UTF-8
        spans = None
    if spans is None:
        return Split(data)
    kept: list[bytes] = []
    cursor = removed = 0
    seen_messages = False
    for start, end, kind, seen in spans:
        if kind == "run":
            run: Run = seen
            out.message_texts.extend(run.texts)
            out.messages_at, seen_messages = len(out.pieces), True
            kept.append(data[cursor:start])
            out.pieces.extend(run.placed(start - removed))
            kept.append(run.skeleton)
            removed += len(run.data) - len(run.skeleton)
            cursor = end
            continue
        piece = seen if seen is not None else data[start:end]
        if kind == "message":
            out.message_texts.append(piece)
            if not seen_messages:
                out.messages_at, seen_messages = len(out.pieces), True
        if end - start < MIN_PIECE:
            continue
        kept.append(data[cursor:start])
        out.pieces.append((start - removed, piece))
        removed += end - start
        cursor = end
    kept.append(data[cursor:])
    out.skeleton = b"".join(kept)
    return out
