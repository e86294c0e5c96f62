"""Write, Edit and MultiEdit: read-before-write, uniqueness, all-or-nothing, atomic, no symlink escapes."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.tools.helpers import text_of


async def test_write_creates_new_file_and_parents(ws: Path, call) -> None:
    result = await call("Write", {"file_path": "new/dir/f.txt", "content": "hello\n"})
    assert not result.is_error and "created" in text_of(result)
    assert (ws / "new" / "dir" / "f.txt").read_text() == "hello\n"


async def test_write_existing_file_requires_read_first(ws: Path, call) -> None:
    target = ws / "f.txt"
    target.write_text("original\n")
    refused = await call("Write", {"file_path": "f.txt", "content": "new\n"})
    assert refused.is_error and "Read it first" in text_of(refused)
    assert target.read_text() == "original\n"
    await call("Read", {"file_path": "f.txt"})
    done = await call("Write", {"file_path": "f.txt", "content": "new\n"})
    assert not done.is_error and target.read_text() == "new\n"


async def test_write_refused_when_file_changed_since_read(ws: Path, call) -> None:
    target = ws / "f.txt"
    target.write_text("v1\n")
    await call("Read", {"file_path": "f.txt"})
    target.write_text("changed by the user\n")
    os.utime(target, (time.time() + 5, time.time() + 5))
    result = await call("Write", {"file_path": "f.txt", "content": "v2\n"})
    assert result.is_error and "changed since it was read" in text_of(result)
    assert target.read_text() == "changed by the user\n"


async def test_write_keeps_file_mode_and_leaves_no_temp_files(ws: Path, call) -> None:
    target = ws / "run.sh"
    target.write_text("echo 1\n")
    target.chmod(0o755)
    await call("Read", {"file_path": "run.sh"})
    await call("Write", {"file_path": "run.sh", "content": "echo 2\n"})
    assert target.stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in ws.iterdir()) == ["run.sh"]


async def test_write_through_symlink_out_of_workspace_is_refused(ws: Path, tmp_path: Path, call) -> None:
    outside = tmp_path / "victim.txt"
    outside.write_text("safe\n")
    os.symlink(outside, ws / "link.txt")
    result = await call("Write", {"file_path": "link.txt", "content": "pwned\n"})
    assert result.is_error
    assert outside.read_text() == "safe\n"
    (tmp_path / "outdir").mkdir()
    os.symlink(tmp_path / "outdir", ws / "dirlink")
    result = await call("Write", {"file_path": "dirlink/new.txt", "content": "pwned\n"})
    assert result.is_error and not (tmp_path / "outdir" / "new.txt").exists()


async def test_write_outside_workspace_is_refused(ws: Path, tmp_path: Path, call) -> None:
    result = await call("Write", {"file_path": str(tmp_path / "x.txt"), "content": "x"})
    assert result.is_error and not (tmp_path / "x.txt").exists()
    result = await call("Write", {"file_path": "../y.txt", "content": "y"})
    assert result.is_error and not (tmp_path / "y.txt").exists()


async def test_write_through_symlink_inside_workspace_updates_target(ws: Path, call) -> None:
    (ws / "real.txt").write_text("a\n")
    os.symlink("real.txt", ws / "alias.txt")
    await call("Read", {"file_path": "alias.txt"})
    result = await call("Write", {"file_path": "alias.txt", "content": "b\n"})
    assert not result.is_error
    assert (ws / "real.txt").read_text() == "b\n" and (ws / "alias.txt").is_symlink()


async def test_edit_replaces_unique_string_and_shows_snippet(ws: Path, call) -> None:
    (ws / "m.py").write_text("def f():\n    return 1\n")
    await call("Read", {"file_path": "m.py"})
    result = await call("Edit", {"file_path": "m.py", "old_string": "return 1", "new_string": "return 2"})
    assert not result.is_error
    assert (ws / "m.py").read_text() == "def f():\n    return 2\n"
    assert "     2\t    return 2" in text_of(result)


async def test_edit_requires_read(ws: Path, call) -> None:
    (ws / "m.py").write_text("a\n")
    result = await call("Edit", {"file_path": "m.py", "old_string": "a", "new_string": "b"})
    assert result.is_error and "not been read" in text_of(result)


async def test_edit_failures_leave_file_untouched(ws: Path, call) -> None:
    target = ws / "m.txt"
    target.write_text("x = 1\nx = 1\n")
    await call("Read", {"file_path": "m.txt"})
    missing = await call("Edit", {"file_path": "m.txt", "old_string": "y = 2", "new_string": "z"})
    assert missing.is_error and "not found" in text_of(missing)
    twice = await call("Edit", {"file_path": "m.txt", "old_string": "x = 1", "new_string": "x = 2"})
    assert twice.is_error and "found 2 times" in text_of(twice)
    same = await call("Edit", {"file_path": "m.txt", "old_string": "x = 1", "new_string": "x = 1"})
    assert same.is_error and "the same" in text_of(same)
    assert target.read_text() == "x = 1\nx = 1\n"


async def test_edit_replace_all(ws: Path, call) -> None:
    (ws / "m.txt").write_text("foo foo foo\n")
    await call("Read", {"file_path": "m.txt"})
    result = await call("Edit", {"file_path": "m.txt", "old_string": "foo", "new_string": "bar", "replace_all": True})
    assert not result.is_error and (ws / "m.txt").read_text() == "bar bar bar\n"


async def test_consecutive_edits_need_no_reread(ws: Path, call) -> None:
    (ws / "m.txt").write_text("a\nb\n")
    await call("Read", {"file_path": "m.txt"})
    assert not (await call("Edit", {"file_path": "m.txt", "old_string": "a", "new_string": "A"})).is_error
    assert not (await call("Edit", {"file_path": "m.txt", "old_string": "b", "new_string": "B"})).is_error
    assert (ws / "m.txt").read_text() == "A\nB\n"


async def test_edit_keeps_crlf_line_endings(ws: Path, call) -> None:
    (ws / "w.txt").write_bytes(b"one\r\ntwo\r\n")
    await call("Read", {"file_path": "w.txt"})
    result = await call("Edit", {"file_path": "w.txt", "old_string": "one\ntwo", "new_string": "1\n2"})
    assert not result.is_error
    assert (ws / "w.txt").read_bytes() == b"1\r\n2\r\n"


async def test_edit_with_empty_old_string_creates_a_new_file(ws: Path, call) -> None:
    result = await call("Edit", {"file_path": "fresh.txt", "old_string": "", "new_string": "hi\n"})
    assert not result.is_error and (ws / "fresh.txt").read_text() == "hi\n"


async def test_multiedit_applies_all_in_order(ws: Path, call) -> None:
    (ws / "c.py").write_text("a = 1\nb = 2\n")
    await call("Read", {"file_path": "c.py"})
    result = await call("MultiEdit", {"file_path": "c.py", "edits": [
        {"old_string": "a = 1", "new_string": "a = 10"},
        {"old_string": "a = 10\nb = 2", "new_string": "a = 10\nb = 20"},
    ]})
    assert not result.is_error and "2 edits" in text_of(result)
    assert (ws / "c.py").read_text() == "a = 10\nb = 20\n"


async def test_multiedit_is_all_or_nothing(ws: Path, call) -> None:
    (ws / "c.py").write_text("a = 1\nb = 2\n")
    await call("Read", {"file_path": "c.py"})
    result = await call("MultiEdit", {"file_path": "c.py", "edits": [
        {"old_string": "a = 1", "new_string": "a = 10"},
        {"old_string": "missing", "new_string": "x"},
    ]})
    assert result.is_error and "edit 2 of 2" in text_of(result) and "no edit was applied" in text_of(result)
    assert (ws / "c.py").read_text() == "a = 1\nb = 2\n"


async def test_multiedit_schema_rejects_empty_and_unknown_fields(ws: Path, call) -> None:
    result = await call("MultiEdit", {"file_path": "c.py", "edits": []})
    assert result.is_error and "edits" in text_of(result)
    result = await call("MultiEdit", {"file_path": "c.py", "edits": [{"old_string": "a", "new_string": "b", "x": 1}]})
    assert result.is_error and "'x'" in text_of(result)


async def test_write_replaces_the_file_atomically(ws: Path, call) -> None:
    target = ws / "f.txt"
    target.write_text("old\n")
    await call("Read", {"file_path": "f.txt"})
    with target.open() as reader_holding_old_file:
        await call("Write", {"file_path": "f.txt", "content": "new\n"})
        assert reader_holding_old_file.read() == "old\n"
    assert target.read_text() == "new\n"


async def test_write_onto_a_directory_or_fifo_is_refused(ws: Path, call) -> None:
    (ws / "d").mkdir()
    assert (await call("Write", {"file_path": "d", "content": "x"})).is_error
    os.mkfifo(ws / "pipe")
    assert (await call("Write", {"file_path": "pipe", "content": "x"})).is_error
    assert (await call("Read", {"file_path": "pipe"})).is_error


async def test_edit_snippet_shows_where_text_was_removed(ws: Path, call) -> None:
    (ws / "m.txt").write_text("".join(f"line {i}\n" for i in range(1, 21)))
    await call("Read", {"file_path": "m.txt"})
    result = await call("Edit", {"file_path": "m.txt", "old_string": "line 15\n", "new_string": ""})
    assert "    15\tline 16" in text_of(result) and "\tline 1\n" not in text_of(result)
