"""Opening beneath the workspace: a directory swapped for a symlink in a loop never lets a tool out."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from claude_proxy.settings import parse_settings
from claude_proxy.tools.base import ToolResult
from claude_proxy.tools.guard.beneath import Escape, locate
from claude_proxy.tools.registry import new_context, run_tool

SECRET = "TOPSECRET-4242"


def _text(result: ToolResult) -> str:
    return result.content if isinstance(result.content, str) else repr(result.content)


def test_locate_follows_inside_links_and_stops_at_the_roots(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "a" / "b").mkdir(parents=True)
    (ws / "a" / "b" / "f").write_text("x")
    os.symlink("../a", ws / "a" / "rel")
    os.symlink(ws / "a" / "b", ws / "abs")
    os.symlink(tmp_path, ws / "up")
    for path in ("a/rel/rel/b/f", "abs/f", "abs/../b/f", "../ws/a/b/f"):
        found = locate(os.path.join(ws, path), [ws])
        try:
            assert found.path == ws / "a" / "b" / "f" and found.st is not None
        finally:
            found.close()
    for path in ("up/ws/a", "a/../../x", "up"):
        with pytest.raises(Escape):
            locate(os.path.join(ws, path), [ws])


SWAPPER = """
import os, shutil, sys
d, parked, outside = sys.argv[1] + "/d", sys.argv[1] + "/d.parked", sys.argv[2]
print("ready", flush=True)
while True:
    try:
        os.rename(d, parked)
        os.symlink(outside, d)
        os.unlink(d)
        os.rename(parked, d)
    except OSError:  # a Write made d anew while it was missing: put the real one back
        if os.path.islink(d):
            os.unlink(d)
        elif os.path.isdir(d) and os.path.isdir(parked):
            shutil.rmtree(d, ignore_errors=True)
        if os.path.isdir(parked) and not os.path.exists(d):
            os.rename(parked, d)
"""


class _Swapper:
    """Another process that replaces ``ws/d`` with a symlink to ``outside`` and back, as fast as it can."""

    def __init__(self, ws: Path, outside: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", SWAPPER, str(ws), str(outside)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "ready\n"

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


READ = ("Read", {"file_path": "d/f.txt"})
LS = ("LS", {"path": "d"})
GREP = ("Grep", {"pattern": "needle", "path": "d", "output_mode": "content"})
GREP_ALL = ("Grep", {"pattern": "needle", "output_mode": "content"})
GLOB = ("Glob", {"pattern": "d/**/*.txt"})
WRITE = ("Write", {"file_path": "d/new.txt", "content": "written\n"})
EDIT = ("Edit", {"file_path": "d/f.txt", "old_string": "inside", "new_string": "INSIDE"})
# the reading tools most often (they are quick); Write and Edit sync to disk, so less often
CALLS = [READ, LS, GREP, GLOB, READ, LS, GREP_ALL, GLOB, READ, LS, GREP, GLOB, WRITE, EDIT, READ, GREP]


async def _hammer(ws: Path, outside: Path, tries: int, backend: str) -> tuple[int, int]:
    context = new_context(ws, parse_settings({"tools": {"grep": {"backend": backend}}}))
    swapper = _Swapper(ws, outside)
    ok = refused = 0
    try:
        for n in range(tries):
            name, tool_input = CALLS[n % len(CALLS)]
            if name == "Edit":  # alternate the text so each edit changes something
                before, after = ("inside", "INSIDE") if n % 2 else ("INSIDE", "inside")
                tool_input = {**tool_input, "old_string": before, "new_string": after}
                await run_tool("Read", {"file_path": "d/f.txt"}, context)
            result = await run_tool(name, tool_input, context)
            text = _text(result)
            assert SECRET not in text, f"{name} returned the outside file: {text}"
            assert "Traceback" not in text and "failed unexpectedly" not in text, text
            refused += result.is_error
            ok += not result.is_error
    finally:
        swapper.stop()
    return ok, refused


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    (ws / "d").mkdir(parents=True)
    outside.mkdir()
    (ws / "d" / "f.txt").write_text("inside needle\n")
    (outside / "f.txt").write_text(f"{SECRET} needle\n")
    (outside / "other.txt").write_text(f"{SECRET}\n")
    return ws, outside


def _outside_untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["f.txt", "other.txt"]
    assert (outside / "f.txt").read_text() == f"{SECRET} needle\n"


@pytest.mark.processes
def test_swapping_a_directory_for_a_symlink_never_lets_a_tool_out(tmp_path: Path) -> None:
    """9,600 calls of Read, LS, Grep (Python engine), Glob, Write and Edit while ``d`` flips in a loop."""
    ws, outside = _setup(tmp_path)
    ok, refused = asyncio.run(_hammer(ws, outside, 9600, "python"))
    _outside_untouched(outside)
    assert ok > 0 and refused > 0  # both sides of the race were hit: the test exercised it


@pytest.mark.processes
def test_ripgrep_answers_are_checked_against_the_files_held_open(tmp_path: Path) -> None:
    """The other 400 of the 10,000 tries, with ripgrep (which opens by name) as the Grep back end."""
    ws, outside = _setup(tmp_path)
    backend = "ripgrep" if shutil.which("rg") else "python"  # without rg, still 400 more tries
    ok, refused = asyncio.run(_hammer(ws, outside, 400, backend))
    _outside_untouched(outside)
    assert ok > 0
