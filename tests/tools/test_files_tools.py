"""Read and LS against real files in a temporary workspace."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from tests.tools.helpers import text_of

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


async def test_read_numbers_lines_like_cat_n(ws: Path, call) -> None:
    (ws / "a.txt").write_text("alpha\nbeta\n")
    result = await call("Read", {"file_path": str(ws / "a.txt")})
    assert not result.is_error
    assert text_of(result) == "     1\talpha\n     2\tbeta"


async def test_read_relative_path_resolves_in_workspace(ws: Path, call) -> None:
    (ws / "sub").mkdir()
    (ws / "sub" / "b.txt").write_text("x\n")
    assert text_of(await call("Read", {"file_path": "sub/b.txt"})) == "     1\tx"


async def test_read_offset_and_limit_with_a_note(ws: Path, call) -> None:
    (ws / "n.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    text = text_of(await call("Read", {"file_path": "n.txt", "offset": 4, "limit": 2}))
    assert text.startswith("     4\tline 4\n     5\tline 5\n\n")
    assert "showing lines 4-5" in text and "offset=6" in text
    tail = text_of(await call("Read", {"file_path": "n.txt", "offset": 9}))
    assert tail == "     9\tline 9\n    10\tline 10\n\n(showing lines 9-10 of 10)"


async def test_read_defaults_to_2000_lines(ws: Path, call) -> None:
    (ws / "big.txt").write_text("".join(f"{i}\n" for i in range(1, 2501)))
    text = text_of(await call("Read", {"file_path": "big.txt"}))
    assert "  2000\t2000" in text and "\t2001" not in text
    assert "showing lines 1-2000; the file goes on" in text and "offset=2001" in text


async def test_read_cuts_long_lines(ws: Path, call) -> None:
    (ws / "long.txt").write_text("x" * 5000 + "\n")
    text = text_of(await call("Read", {"file_path": "long.txt"}))
    assert "x" * 2000 in text and "x" * 2001 not in text
    assert "line cut at 2000 characters" in text


async def test_read_empty_file_and_offset_past_end(ws: Path, call) -> None:
    (ws / "empty.txt").write_text("")
    assert "exists but is empty" in text_of(await call("Read", {"file_path": "empty.txt"}))
    (ws / "three.txt").write_text("1\n2\n3\n")
    text = text_of(await call("Read", {"file_path": "three.txt", "offset": 10}))
    assert "has 3 lines" in text and "past the end" in text


async def test_read_binary_file_is_an_error_with_a_hint(ws: Path, call) -> None:
    (ws / "blob.bin").write_bytes(b"\x00\x01\x02binary\x00")
    result = await call("Read", {"file_path": "blob.bin"})
    assert result.is_error and "binary file" in text_of(result)


async def test_read_image_comes_back_as_an_image_block(ws: Path, call) -> None:
    (ws / "dot.png").write_bytes(PNG)
    result = await call("Read", {"file_path": "dot.png"})
    assert not result.is_error
    assert result.content == [
        {"type": "image",
         "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(PNG).decode()}}
    ]


async def test_read_missing_file_and_directory(ws: Path, call) -> None:
    missing = await call("Read", {"file_path": "nope.txt"})
    assert missing.is_error and "does not exist" in text_of(missing)
    (ws / "d").mkdir()
    directory = await call("Read", {"file_path": "d"})
    assert directory.is_error and "LS" in text_of(directory)


async def test_read_outside_workspace_is_refused(ws: Path, tmp_path: Path, call) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_text("top secret\n")
    for path in (str(secret), "../outside.txt"):
        result = await call("Read", {"file_path": path})
        assert result.is_error and "top secret" not in str(result.content)


async def test_read_through_symlink_escaping_workspace_is_refused(ws: Path, tmp_path: Path, call) -> None:
    (tmp_path / "outside.txt").write_text("top secret\n")
    os.symlink(tmp_path / "outside.txt", ws / "link.txt")
    result = await call("Read", {"file_path": "link.txt"})
    assert result.is_error and "top secret" not in str(result.content)


async def test_read_nul_byte_path_is_an_error(call) -> None:
    result = await call("Read", {"file_path": "a\x00b"})
    assert result.is_error and "NUL" in text_of(result)


async def test_read_crlf_file_shows_clean_lines(ws: Path, call) -> None:
    (ws / "w.txt").write_bytes(b"one\r\ntwo\r\n")
    assert text_of(await call("Read", {"file_path": "w.txt"})) == "     1\tone\n     2\ttwo"


async def test_ls_tree_with_ignore_and_skips(ws: Path, call) -> None:
    (ws / "src" / "pkg").mkdir(parents=True)
    (ws / "src" / "pkg" / "mod.py").write_text("")
    (ws / "src" / "main.py").write_text("")
    (ws / "build.log").write_text("")
    (ws / ".git").mkdir()
    (ws / ".git" / "HEAD").write_text("")
    text = text_of(await call("LS", {"path": str(ws), "ignore": ["*.log"]}))
    assert text == f"- {ws}/\n  - src/\n    - main.py\n    - pkg/\n      - mod.py"


async def test_ls_does_not_enter_symlinked_directories(ws: Path, tmp_path: Path, call) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "hidden-treasure.txt").write_text("")
    os.symlink(outside, ws / "link")
    text = text_of(await call("LS", {"path": "."}))
    assert "link ->" in text and "hidden-treasure" not in text


async def test_ls_is_capped(ws: Path, call) -> None:
    for i in range(1100):
        (ws / f"f{i:04d}").write_text("")
    text = text_of(await call("LS", {"path": "."}))
    assert text.count("\n  - f") == 1000
    assert "cut at 1000 entries" in text


async def test_ls_missing_directory_and_outside(ws: Path, call) -> None:
    assert (await call("LS", {"path": "nope"})).is_error
    assert (await call("LS", {"path": "/"})).is_error


async def test_over_long_paths_are_tool_errors_with_the_reason(ws: Path, call) -> None:
    for name, tool_input in (("Read", {"file_path": "x" * 300}), ("LS", {"path": "d/" * 2100}),
                             ("Write", {"file_path": "a/" + "y" * 256 + "/f.txt", "content": "x"}),
                             ("Glob", {"pattern": "*.py", "path": "z" * 4096}),
                             ("Grep", {"pattern": "x", "path": "q" * 300})):
        result = await call(name, tool_input)
        assert result.is_error, name
        assert "longer than" in text_of(result) and "failed unexpectedly" not in text_of(result), name


async def test_a_hard_linked_file_is_not_read(ws: Path, tmp_path: Path, call) -> None:
    (tmp_path / "elsewhere.key").write_text("private\n")
    os.link(tmp_path / "elsewhere.key", ws / "notes.txt")
    result = await call("Read", {"file_path": "notes.txt"})
    assert result.is_error and "hard links" in text_of(result) and "private" not in text_of(result)
    found = await call("Grep", {"pattern": "private", "output_mode": "content"})
    assert "private" not in text_of(found)
