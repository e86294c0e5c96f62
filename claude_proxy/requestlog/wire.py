"""What the proxy and its request-log writer process say to each other over two pipes.

Proxy -> writer (the writer's stdin): frames of log entries. A frame is a 16-byte
header (the lengths of the two parts), the entries' small fields as one `marshal`
blob, then the bodies, raw and back to back. The bodies never pass through a
serializer: the proxy hands them to ``os.writev`` as they are, so a long prompt
costs the serving process no copy while it holds the GIL. Header dicts travel as one
NUL-joined string (aiohttp's header names are `istr`, which marshal refuses and
pickle is slow at).

Writer -> proxy (the writer's stdout): small marshal'd tuples, each prefixed with
its length: ``("ready",)``, ``("error", message)``, ``("status", *STATUS)``,
``("log", levelno, logger_name, text)`` and, last, ``("done", *STATUS)``.

Both ends are the same checkout run by the same interpreter, so marshal's format
is the same on both sides. Everything here is plain stdlib: the writer imports it
before anything else.
"""

from __future__ import annotations

import dataclasses
import marshal
import os
import struct
from itertools import chain
from operator import attrgetter
from typing import IO, Any, Iterator

from claude_proxy.requestlog.entry import LogEntry

FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(LogEntry))
_GET = attrgetter(*FIELDS)
_HEADERS = tuple(FIELDS.index(name) for name in ("request_headers", "response_headers"))
_BODIES = tuple(FIELDS.index(name) for name in ("request_body", "response_body", "response_tail"))

FRAME_HEAD = struct.Struct("<QQ")
# A frame's limits: iovecs per writev stay under IOV_MAX (1024), and one frame's bodies
# stay a modest read for the writer.
FRAME_ENTRIES = 128
FRAME_BODY_BYTES = 32 << 20

MESSAGE_HEAD = struct.Struct("<I")
# The counters a status message carries, in this order.
STATUS = ("written", "dropped", "lost", "last_error", "queue_depth", "healthy")


class WireError(Exception):
    """A pipe that ended in the middle of a frame or carried something unreadable."""


# --- proxy -> writer: entries -----------------------------------------------------------------

def _headers(headers: Any) -> Any:
    """A header dict as one NUL-joined string (``""`` for none), or a list where that cannot be exact."""
    if not headers:
        return ""
    try:
        joined = "\0".join(chain.from_iterable(headers.items()))
    except (TypeError, AttributeError):
        return _plain(headers)
    if joined.count("\0") != 2 * len(headers) - 1:  # a NUL inside a name or value: keep the pairs apart
        return _plain(headers)
    return joined


def _plain(value: Any) -> Any:
    """``value`` in the types marshal writes (str subclasses become str, unknown objects their repr)."""
    if value is None or type(value) in (bool, int, float, str, bytes):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict) or hasattr(value, "items"):
        try:
            return {_plain(k): _plain(v) for k, v in value.items()}
        except TypeError:  # an unhashable key after all
            return repr(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return repr(value)


def encode_entry(entry: LogEntry, bodies: list[Any]) -> tuple[list[Any], int]:
    """The entry's fields in `FIELDS` order and its body bytes: headers joined, each body
    replaced by its length and appended to ``bodies`` (one that is not bytes travels inline,
    as a 1-tuple)."""
    values = list(_GET(entry))
    size = 0
    for i in _HEADERS:
        values[i] = _headers(values[i])
    for i in _BODIES:
        body = values[i]
        if type(body) is not bytes:
            if not isinstance(body, (bytearray, memoryview)):
                values[i] = (body,)
                continue
            body = bytes(body)
        values[i] = len(body)
        if body:
            bodies.append(body)
            size += len(body)
    return values, size


def _marshal_entries(values: list[list[Any]]) -> bytes:
    try:
        return marshal.dumps(values)
    except ValueError:  # something marshal cannot write (a str subclass, an object): only that entry pays
        pass
    for entry in values:
        try:
            marshal.dumps(entry)
        except ValueError:
            entry[:] = [_plain(v) for v in entry]
    return marshal.dumps(values)


def frames(entries: list[LogEntry]) -> Iterator[tuple[int, list[Any]]]:
    """``(entry count, buffers to writev)`` per frame, in order."""
    start = 0
    while start < len(entries):
        values: list[list[Any]] = []
        bodies: list[Any] = []
        size = 0
        for entry in entries[start:start + FRAME_ENTRIES]:
            encoded, nbytes = encode_entry(entry, bodies)
            values.append(encoded)
            size += nbytes
            if size >= FRAME_BODY_BYTES:
                break
        meta = _marshal_entries(values)
        start += len(values)
        yield len(values), [FRAME_HEAD.pack(len(meta), size), meta, *bodies]


def _header_dict(joined: str) -> dict[str, str]:
    if not joined:
        return {}
    parts = iter(joined.split("\0"))
    return dict(zip(parts, parts))  # noqa: B905  (pairs from one iterator: the same length by construction)


def decode_frame(meta: bytes, blob: bytes) -> list[LogEntry]:
    """The entries of one frame, from its marshal part and its body part."""
    entries = []
    offset = 0
    for values in marshal.loads(meta):
        for index in _HEADERS:
            headers = values[index]
            if type(headers) is str:
                values[index] = _header_dict(headers)
        for index in _BODIES:
            size = values[index]
            if type(size) is int:  # its bytes follow in the frame's blob
                values[index] = blob[offset:offset + size]
                offset += size
            else:  # an odd value sent inline, in a 1-tuple
                values[index] = size[0]
        entries.append(LogEntry(*values))
    if offset != len(blob):
        raise WireError(f"frame bodies: {len(blob)} bytes, entries account for {offset}")
    return entries


def read_frames(stream: IO[bytes]) -> Iterator[list[LogEntry]]:
    """Each frame's entries until the proxy closes the pipe (a torn frame raises WireError)."""
    while True:
        head = stream.read(FRAME_HEAD.size)
        if not head:
            return
        if len(head) < FRAME_HEAD.size:
            raise WireError("the pipe ended inside a frame header")
        meta_size, body_size = FRAME_HEAD.unpack(head)
        meta = stream.read(meta_size)
        blob = stream.read(body_size) if body_size else b""
        if len(meta) < meta_size or len(blob) < body_size:
            raise WireError("the pipe ended inside a frame")
        yield decode_frame(meta, blob)


def write_all(fd: int, buffers: list[Any]) -> None:
    """Write every buffer to ``fd`` in order, whatever partial writes the pipe makes."""
    writev = getattr(os, "writev", None)
    if writev is None:  # not on every platform
        data = memoryview(b"".join(buffers))
        while data:
            data = data[os.write(fd, data):]
        return
    first = 0
    while first < len(buffers):
        written = writev(fd, buffers[first:] if first else buffers)
        while first < len(buffers) and written >= len(buffers[first]):
            written -= len(buffers[first])
            first += 1
        if written:
            buffers[first] = memoryview(buffers[first])[written:]


# --- writer -> proxy: small messages ----------------------------------------------------------

def pack_message(message: tuple[Any, ...]) -> bytes:
    data = marshal.dumps(message)
    return MESSAGE_HEAD.pack(len(data)) + data


def read_message(stream: IO[bytes]) -> tuple[Any, ...] | None:
    """The next message, or None once the writer closed its end."""
    head = stream.read(MESSAGE_HEAD.size)
    if len(head) < MESSAGE_HEAD.size:
        return None
    (size,) = MESSAGE_HEAD.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    message = marshal.loads(data)
    return message if isinstance(message, tuple) and message else None
