"""The entry frames the proxy writes to its log writer process, read back through a real pipe."""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import pytest
from multidict import CIMultiDict, istr

from claude_proxy.requestlog import wire as logwire
from claude_proxy.requestlog.entry import LogEntry
from tests.requestlog.conftest import KEY, make_entry


def _through_a_pipe(entries: list[LogEntry]) -> list[LogEntry]:
    read_fd, write_fd = os.pipe()
    received: list[LogEntry] = []

    def reader() -> None:
        with open(read_fd, "rb") as stream:
            for frame in logwire.read_frames(stream):
                received.extend(frame)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _, buffers in logwire.frames(entries):
            logwire.write_all(write_fd, buffers)
    finally:
        os.close(write_fd)
        thread.join(30)
    return received


class Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


def test_every_field_crosses_unchanged(fixtures_dir: Path) -> None:
    """Each LogEntry field set to something other than its default, as the proxy fills them."""
    entry = make_entry(
        fixtures_dir, "anthropic-stream-tool-use.sse", duration_ms=812.25, ttfb_ms=33.5,
        requested_model="claude-opus-4-1", upstream_model="claude-sonnet-4-5", error="client disconnected",
        route="anthropic/claude-sonnet-4-5", attempts=2, request_size=99_999, response_size=123_456,
        response_tail=b"event: message_stop\ndata: {}\n\n", response_times=[(0, 31), (4096, 58)],
        attempt_log=[{"n": 1, "target": "a", "status": 529, "wait_ms": 12.5}, {"n": 2, "target": "b", "error": "x"}],
        request_headers=dict(CIMultiDict({"X-Api-Key": KEY, "Anthropic-Version": "2023-06-01"})),
    )
    defaults = LogEntry(id="x", started_at=0.0, method="GET", path="/")
    unchanged = [f.name for f in dataclasses.fields(LogEntry)
                 if getattr(entry, f.name) == getattr(defaults, f.name) and f.name != "stream"]
    assert not unchanged, f"give these fields a value so the test covers them: {unchanged}"
    assert {type(k) for k in entry.request_headers} == {istr}, "aiohttp's header names are istr"

    (back,) = _through_a_pipe([entry])
    assert back == entry
    assert list(back.request_headers) == ["X-Api-Key", "Anthropic-Version"]


def test_odd_values_still_arrive() -> None:
    """What marshal refuses, a NUL in a header, bodies that are not bytes: each entry still arrives."""
    entries = [
        make_entry(request_headers={"x-weird": "a\0b", "": ""}),
        make_entry(response_body="not bytes"),  # type: ignore[arg-type]
        make_entry(request_body=bytearray(b'{"model": "m"}')),  # type: ignore[arg-type]
        make_entry(attempt_log=[{"n": 1, "error": Opaque()}, {"n": 2}]),
        make_entry(request_headers={}, response_headers={}, request_body=b"", response_body=b""),
    ]
    back = _through_a_pipe(entries)
    assert [e.id for e in back] == [e.id for e in entries]
    assert back[0].request_headers == {"x-weird": "a\0b", "": ""}
    assert back[1].response_body == "not bytes"
    assert back[2].request_body == b'{"model": "m"}'
    assert back[3].attempt_log == [{"n": 1, "error": "<opaque>"}, {"n": 2}]
    assert back[4] == entries[4]


def test_many_entries_and_long_bodies_split_into_frames() -> None:
    long_body = os.urandom(3 << 20)
    entries = [make_entry(path=f"/v1/messages?i={i}") for i in range(300)]
    entries[5].request_body = long_body
    counts = [count for count, _ in logwire.frames(entries)]
    assert sum(counts) == 300 and max(counts) <= logwire.FRAME_ENTRIES
    back = _through_a_pipe(entries)
    assert back == entries
    assert back[5].request_body == long_body


def test_a_torn_frame_is_an_error() -> None:
    import io

    (_, buffers), = logwire.frames([make_entry()])
    data = b"".join(bytes(b) for b in buffers)
    with pytest.raises(logwire.WireError):
        list(logwire.read_frames(io.BytesIO(data[:-3])))
