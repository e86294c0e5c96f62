"""Content-addressed bodies: a request's stable parts, each stored once, zstd-compressed.

A Messages request is mostly what the one before it sent: the same tools, the same system
prompt, the same history plus a turn. ``pieces.split`` cuts the exact bytes of ``system``,
``tools`` and each of ``messages`` out of the body, leaving a small skeleton (everything
else, byte for byte: whitespace, key order, the other fields). Here each piece is named by
its BLAKE2b digest and stored once; a row keeps a recipe (the skeleton's name, then where each piece goes back), and
`rebuild` puts the original body back together, each piece checked against its name.

Recipe versions: 3 (written now) places pieces at byte offsets; 2 placed them at character
offsets of the decoded text; 1 was checked against a digest of the whole body instead of
each piece (hashing every 100 KB body again cost the writer more than all its splitting).
All three are read. Everything here is pure: no database, so a second backend can reuse it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import struct
import threading
from typing import Any, AnyStr, Callable, Iterable

import zstandard

DIGEST = 16
RECIPE_VERSION = 3  # 1: checked against the whole body's digest; 2: each piece against its name; 3: in bytes
_READABLE = frozenset({1, 2, 3})
_RAW, _ZSTD = 0, 1
_local = threading.local()  # a compressor per thread: one must not be used by two threads at once
_decompressor = zstandard.ZstdDecompressor()


class ContentError(Exception):
    """Stored content that cannot be read back, or a rebuilt body whose digest does not match."""


def digest(data: bytes) -> bytes:
    """The name of a piece of content (16 bytes of BLAKE2b)."""
    return hashlib.blake2b(data, digest_size=DIGEST).digest()


def _compressor() -> zstandard.ZstdCompressor:
    compressor = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(level=3)
    return compressor


def pack(data: bytes) -> bytes:
    """Content as stored: zstd when that saves something, else as it is (a one-byte tag first)."""
    if len(data) >= 64:
        return _tagged(data, _compressor().compress(data))
    return bytes((_RAW,)) + data


def pack_many(items: list[bytes]) -> list[bytes]:
    """`pack` of each item, compressed in one call: one release of the GIL for them all, not one each
    (a thread that takes the GIL back hundreds of times a batch waits behind a busy one each time)."""
    big: list[bytes | bytearray | memoryview] = [data for data in items if len(data) >= 64]
    if not big or not hasattr(zstandard.ZstdCompressor, "multi_compress_to_buffer"):
        return [pack(data) for data in items]
    packed = _compressor().multi_compress_to_buffer(big, threads=0)
    out, at = [], 0
    for data in items:
        if len(data) >= 64:
            out.append(_tagged(data, packed[at].tobytes()))
            at += 1
        else:
            out.append(bytes((_RAW,)) + data)
    return out


def _tagged(data: bytes, packed: bytes) -> bytes:
    return bytes((_ZSTD,)) + packed if len(packed) < len(data) else bytes((_RAW,)) + data


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


def recipe(skeleton_name: bytes, pieces: list[tuple[int, bytes]]) -> bytes:
    """A row's recipe: version, the skeleton's name, then (offset, name) per piece (names are digests)."""
    return struct.pack(f"<BI{DIGEST}s" + f"I{DIGEST}s" * len(pieces), RECIPE_VERSION, len(pieces), skeleton_name,
                       *itertools.chain.from_iterable(pieces))


def read_recipe(data: bytes) -> tuple[bytes, list[tuple[int, bytes]]]:
    """The skeleton's name and the (offset, name) pieces of a recipe."""
    return _read_recipe(data)[1:]


def _read_recipe(data: bytes) -> tuple[int, bytes, list[tuple[int, bytes]]]:
    try:
        version, count = struct.unpack_from("<BI", data, 0)
    except struct.error:
        raise ContentError("a recipe too short to read") from None
    if version not in _READABLE:
        raise ContentError(f"recipe version {version} is not one this release reads")
    at = 5
    skeleton = bytes(data[at:at + DIGEST])
    at += DIGEST
    pieces = []
    for _ in range(count):
        (offset,) = struct.unpack_from("<I", data, at)
        pieces.append((offset, bytes(data[at + 4:at + 4 + DIGEST])))
        at += 4 + DIGEST
    return version, skeleton, pieces


def names(data: bytes) -> list[bytes]:
    """Every content name a recipe refers to (for collecting what no row needs any more)."""
    skeleton, pieces = read_recipe(data)
    return [skeleton] + [name for _, name in pieces]


def referenced(recipe: bytes | None, response_ref: bytes | None) -> tuple[list[bytes], bool]:
    """Every content name a row needs (its response's, its recipe's), and False when the recipe
    could not be read: its pieces are then missing from the list, the response's is not."""
    found = [bytes(response_ref)] if response_ref is not None else []
    if recipe is None:
        return found, True
    try:
        return found + names(bytes(recipe)), True
    except ContentError:
        return found, False


class ContentReader:
    """A store's reads of its content: by name, unpacked, cached; and a row's bodies rebuilt from it.

    ``load(name)`` is the store's one query (the stored form, None when missing); the
    backends differ only there.
    """

    LIMIT = 20_000  # pieces kept; then the cache starts again

    def __init__(self, load: Callable[[bytes], bytes | None]) -> None:
        self._load = load
        self._cache: dict[bytes, bytes] = {}

    def fetch(self, name: bytes) -> bytes:
        """The content named ``name`` (ContentError when no row's content has that name)."""
        name = bytes(name)
        known = self._cache.get(name)
        if known is None:
            stored = self._load(name)
            if stored is None:
                raise ContentError("a row refers to content that is not in the log")
            known = unpack(stored)
            self.keep(name, known)
        return known

    def missing(self, wanted: Iterable[bytes]) -> set[bytes]:
        """Which of these names are not cached (for a store that reads many in one query)."""
        return {bytes(name) for name in wanted} - self._cache.keys()

    def keep(self, name: bytes, content: bytes) -> None:
        if len(self._cache) >= self.LIMIT:
            self._cache.clear()
        self._cache[bytes(name)] = content

    def bodies(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` with ``request_body`` and ``response_body`` rebuilt; ``store_error`` says why not."""
        try:
            if row.get("request_recipe") is not None:
                row["request_body"] = rebuild(row["request_recipe"], self.fetch, row.get("request_digest"))
            if row.get("response_ref") is not None:
                row["response_body"] = self.fetch(row["response_ref"]).decode("utf-8")
        except (ContentError, UnicodeDecodeError) as exc:
            row["store_error"] = str(exc)
        return row


def rebuild(data: bytes, fetch: Callable[[bytes], bytes], expected: bytes | None) -> str:
    """The exact text a recipe describes, from ``fetch(name) -> content``.

    Version 3: bytes put back at byte offsets, each piece checked against its name, then
    decoded as the row's text always was (a body cut mid-character ends in U+FFFD).
    Version 2: the same in characters. Version 1: the whole text must match ``expected``
    (the row's digest of its body).
    """
    version, skeleton_name, pieces = _read_recipe(data)
    if version >= 3:
        placed = [(offset, _checked(fetch, name)) for offset, name in pieces]
        return _put_back(_checked(fetch, skeleton_name), placed).decode("utf-8", errors="replace")
    fetched = _checked if version >= 2 else _unchecked
    text = _put_back(fetched(fetch, skeleton_name).decode("utf-8"),
                     [(offset, fetched(fetch, name).decode("utf-8")) for offset, name in pieces])
    if version == 1 and expected is not None and digest(text.encode("utf-8")) != expected:
        raise ContentError("the rebuilt body does not match its stored digest")
    return text


def _put_back(skeleton: AnyStr, pieces: list[tuple[int, AnyStr]]) -> AnyStr:
    """``skeleton`` with each piece inserted back at its offset (in the skeleton, in order)."""
    out = []
    at = 0
    for offset, piece in pieces:
        out += [skeleton[at:offset], piece]
        at = offset
    out.append(skeleton[at:])
    return skeleton[:0].join(out)


def _unchecked(fetch: Callable[[bytes], bytes], name: bytes) -> bytes:
    return fetch(name)


def _checked(fetch: Callable[[bytes], bytes], name: bytes) -> bytes:
    data = fetch(name)
    if digest(data) != name:
        raise ContentError(f"stored content {name.hex()} does not match its digest (its name)")
    return data


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
