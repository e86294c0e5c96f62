"""Content-addressed bodies: a request split into its stable parts, each stored once, zstd-compressed.

A Messages request is mostly what the one before it sent: the same tools, the same system
prompt, the same history plus a turn. `split` cuts the exact text of ``system``, ``tools``
and each of ``messages`` out of the body, leaving a small skeleton (everything else, byte for
byte: whitespace, key order, the other fields). Each piece is named by its BLAKE2b digest and
stored once; a row keeps a recipe (the skeleton's name, then where each piece goes back), and
`rebuild` puts the original text back together, checked against the whole body's digest.
Everything here is pure: no database, so a second backend can reuse it.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from dataclasses import dataclass, field
from typing import Any, Callable

import zstandard

DIGEST = 16
RECIPE_VERSION = 1
# Pieces shorter than this stay in the skeleton: naming them costs more than they weigh.
MIN_PIECE = 96
_WS = re.compile(r"[ \t\n\r]*")
_RAW, _ZSTD = 0, 1
_decoder = json.JSONDecoder()
_compressor = zstandard.ZstdCompressor(level=3)
_decompressor = zstandard.ZstdDecompressor()


class ContentError(Exception):
    """Stored content that cannot be read back, or a rebuilt body whose digest does not match."""


def digest(data: bytes) -> bytes:
    """The name of a piece of content (16 bytes of BLAKE2b)."""
    return hashlib.blake2b(data, digest_size=DIGEST).digest()


def pack(data: bytes) -> bytes:
    """Content as stored: zstd when that saves something, else as it is (a one-byte tag first)."""
    if len(data) >= 64:
        packed = _compressor.compress(data)
        if len(packed) < len(data):
            return bytes((_ZSTD,)) + packed
    return bytes((_RAW,)) + data


def unpack(stored: bytes) -> bytes:
    """The content `pack` stored."""
    if not stored:
        raise ContentError("empty stored content")
    if stored[0] == _ZSTD:
        try:
            return _decompressor.decompress(stored[1:])
        except zstandard.ZstdError as exc:
            raise ContentError(f"stored content does not decompress: {exc}") from None
    return bytes(stored[1:])


@dataclass
class Split:
    """A body cut into a skeleton and pieces; ``messages`` are every message's parsed value, in order."""

    skeleton: str
    pieces: list[tuple[int, str]] = field(default_factory=list)  # (offset in the skeleton, exact text)
    messages: list[Any] = field(default_factory=list)
    message_texts: list[str] = field(default_factory=list)
    system: Any = None


class SplitCache:
    """Values met before, found again by their first characters, so a repeated piece is not parsed again.

    A tools array, a system prompt and most messages recur verbatim from one request to the
    next. Objects, arrays and strings end where their text says, so when the body at a value's
    position starts with a text seen before, that is the value: one comparison instead of a parse.
    """

    PREFIX = 96
    LIMIT = 4096

    def __init__(self) -> None:
        self._seen: dict[str, list[tuple[str, Any]]] = {}

    def find(self, text: str, i: int) -> tuple[Any, int, str] | None:
        """The value at ``i``, where it ends, and its earlier text (the very object: its name is cached by it)."""
        for known, value in self._seen.get(text[i:i + self.PREFIX], ()):
            if text.startswith(known, i):
                return value, i + len(known), known
        return None

    def add(self, text: str, i: int, end: int, value: Any) -> None:
        if end - i < MIN_PIECE or text[i] not in '{["':
            return  # only values that end where their own text says (not numbers or literals)
        if len(self._seen) >= self.LIMIT:
            self._seen.clear()
        bucket = self._seen.setdefault(text[i:i + self.PREFIX], [])
        bucket.insert(0, (text[i:end], value))
        del bucket[4:]


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


_Span = tuple[int, int, str, "str | None"]


def _spans(text: str, cache: SplitCache | None = None) -> tuple[list[_Span], list[Any], Any] | None:
    """(start, end, kind, earlier text) of ``system``, ``tools`` and each message; None if not an object."""
    spans: list[_Span] = []
    messages: list[Any] = []
    system: Any = None
    i = _ws(text, 0)
    if not text.startswith("{", i):
        return None
    i = _ws(text, i + 1)
    if text.startswith("}", i):
        return spans, messages, system
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
                while True:
                    value, end, seen = _value(text, i, cache)
                    spans.append((i, end, "message", seen))
                    messages.append(value)
                    i = _ws(text, end)
                    if text.startswith(",", i):
                        i = _ws(text, i + 1)
                        continue
                    if not text.startswith("]", i):
                        return None
                    i += 1
                    break
        else:
            if key in ("system", "tools"):
                value, end, seen = _value(text, i, cache)
                spans.append((i, end, key, seen))
                if key == "system":
                    system = value
            else:
                end = _decoder.raw_decode(text, i)[1]
            i = end
        i = _ws(text, i)
        if text.startswith(",", i):
            i = _ws(text, i + 1)
            continue
        if text.startswith("}", i):
            return spans, messages, system
        return None


def split(text: str, cache: SplitCache | None = None) -> Split:
    """Cut ``text`` into a skeleton and pieces; a body that is not a JSON object is all skeleton."""
    try:
        found = _spans(text, cache)
    except (ValueError, RecursionError):
        found = None
    if found is None:
        return Split(text)
    spans, messages, system = found
    out = Split("", messages=messages, system=system)
    kept: list[str] = []
    cursor = removed = 0
    for start, end, kind, seen in spans:
        piece = seen if seen is not None else text[start:end]
        if kind == "message":
            out.message_texts.append(piece)
        if end - start < MIN_PIECE:
            continue
        kept.append(text[cursor:start])
        out.pieces.append((start - removed, piece))
        removed += end - start
        cursor = end
    kept.append(text[cursor:])
    out.skeleton = "".join(kept)
    return out


def recipe(skeleton_name: bytes, pieces: list[tuple[int, bytes]]) -> bytes:
    """A row's recipe: version, the skeleton's name, then (offset, name) per piece."""
    parts = [struct.pack("<BI", RECIPE_VERSION, len(pieces)), skeleton_name]
    for offset, name in pieces:
        parts.append(struct.pack("<I", offset))
        parts.append(name)
    return b"".join(parts)


def read_recipe(data: bytes) -> tuple[bytes, list[tuple[int, bytes]]]:
    """The skeleton's name and the (offset, name) pieces of a recipe."""
    try:
        version, count = struct.unpack_from("<BI", data, 0)
    except struct.error:
        raise ContentError("a recipe too short to read") from None
    if version != RECIPE_VERSION:
        raise ContentError(f"recipe version {version} is not one this release reads")
    at = 5
    skeleton = bytes(data[at:at + DIGEST])
    at += DIGEST
    pieces = []
    for _ in range(count):
        (offset,) = struct.unpack_from("<I", data, at)
        pieces.append((offset, bytes(data[at + 4:at + 4 + DIGEST])))
        at += 4 + DIGEST
    return skeleton, pieces


def names(data: bytes) -> list[bytes]:
    """Every content name a recipe refers to (for collecting what no row needs any more)."""
    skeleton, pieces = read_recipe(data)
    return [skeleton] + [name for _, name in pieces]


def rebuild(data: bytes, fetch: Callable[[bytes], bytes], expected: bytes | None) -> str:
    """The exact text a recipe describes, from ``fetch(name) -> content``; checked against ``expected``."""
    skeleton_name, pieces = read_recipe(data)
    skeleton = fetch(skeleton_name).decode("utf-8")
    out: list[str] = []
    cursor = 0
    for offset, name in pieces:
        out.append(skeleton[cursor:offset])
        out.append(fetch(name).decode("utf-8"))
        cursor = offset
    out.append(skeleton[cursor:])
    text = "".join(out)
    if expected is not None and digest(text.encode("utf-8")) != expected:
        raise ContentError("the rebuilt body does not match its stored digest")
    return text


def message_text(message: Any) -> str:
    """The words of one message, for the search index: text, tool inputs and tool results."""
    if not isinstance(message, dict):
        return ""
    return block_text(message.get("content"))


def block_text(content: Any) -> str:
    """The searchable text of a content value (a string or a list of blocks)."""
    if isinstance(content, str):
        return content
    out: list[str] = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            out.append(str(block.get("text", "")))
        elif kind in ("tool_use", "server_tool_use"):
            out.append(f"{block.get('name', '')} {json.dumps(block.get('input'), ensure_ascii=False)}")
        elif kind == "tool_result":
            out.append(block_text(block.get("content")))
        elif kind == "thinking":
            out.append(str(block.get("thinking", "")))
    return "\n".join(t for t in out if t)
