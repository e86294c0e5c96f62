"""Glob and Grep on real trees; Grep with real ripgrep and with the pure-Python fallback."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.tools.helpers import context_with, text_of

HAVE_RG = shutil.which("rg") is not None
BACKENDS = [
    pytest.param("ripgrep", marks=pytest.mark.skipif(not HAVE_RG, reason="ripgrep (rg) is not installed")),
    "python",
]


def make_tree(ws: Path) -> None:
    files = {
        "src/app.py": "import os\n\ndef main():\n    print('Hello World')\n    return 0\n",
        "src/util.py": "def helper():\n    # TODO: tidy\n    return 'hello'\n",
        "src/web/index.ts": "export const hello = () => 'Hello';\n",
        "src/web/view.tsx": "// TODO render\nexport function View() { return null }\n",
        "README.md": "# Demo\nSay hello to the world.\nTODO: docs\n",
        "docs/guide.txt": "first line\nsecond hello line\nthird\nfourth\nfifth hello\nsixth\n",
        "build/out.py": "hello from a build artefact\n",
        "notes.log": "hello in a log\n",
        "src/web/debug.log": "TODO hello from an ignored log\n",
        ".hidden/conf.py": "hello = 'hidden but not ignored'\n",
        "sub/.gitignore": "*.tmp\n!keep.tmp\n",
        "sub/a.tmp": "hello tmp\n",
        "sub/keep.tmp": "hello keep\n",
        "multi.txt": "start\nfoo\nbar\nend\n",
        "crlf.txt": "Hello\r\nworld\r\n",
    }
    for rel, text in files.items():
        path = ws / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
    (ws / ".gitignore").write_text("build/\n*.log\n")
    (ws / ".git").mkdir()
    (ws / ".git" / "config").write_text("hello from git internals\n")
    (ws / "blob.bin").write_bytes(b"hello\x00binary")
    base = time.time() - 1000
    for i, path in enumerate(sorted(p for p in ws.rglob("*") if p.is_file())):
        os.utime(path, (base + i, base + i))


@pytest.fixture(params=BACKENDS)
def grep(request, ws: Path):
    make_tree(ws)
    context = context_with(ws, {"grep": {"backend": request.param}})

    async def _grep(**tool_input):
        from claude_proxy.tools.registry import run_tool

        return await run_tool("Grep", tool_input, context)

    return _grep


async def test_files_with_matches_is_default_and_respects_gitignore(grep, ws: Path) -> None:
    text = text_of(await grep(pattern="hello"))
    lines = text.splitlines()
    assert lines[0].startswith("Found ")
    found = set(lines[1:])
    assert str(ws / "src/util.py") in found and str(ws / "docs/guide.txt") in found
    assert str(ws / ".hidden/conf.py") in found and str(ws / "sub/keep.tmp") in found
    for ignored in ("build/out.py", "notes.log", "src/web/debug.log", "sub/a.tmp", ".git/config", "blob.bin"):
        assert str(ws / ignored) not in found


async def test_files_sorted_newest_first(grep, ws: Path) -> None:
    os.utime(ws / "docs/guide.txt", (time.time(), time.time()))
    lines = text_of(await grep(pattern="hello", glob="*.txt")).splitlines()
    assert lines[1] == str(ws / "docs/guide.txt")


async def test_content_mode_with_numbers_and_context(grep, ws: Path) -> None:
    text = text_of(await grep(pattern="hello", path="docs/guide.txt", output_mode="content", **{"-B": 1}))
    assert text == "1-first line\n2:second hello line\n--\n4-fourth\n5:fifth hello"


async def test_content_mode_case_insensitive_across_files(grep, ws: Path) -> None:
    text = text_of(await grep(pattern="hello world", output_mode="content", **{"-i": True}))
    assert text == f"{ws}/src/app.py:4:    print('Hello World')"


async def test_count_mode(grep, ws: Path) -> None:
    text = text_of(await grep(pattern="hello", path="docs", output_mode="count"))
    assert text == f"Found 2 matching lines across 1 file\n{ws}/docs/guide.txt:2"


async def test_glob_and_type_filters(grep, ws: Path) -> None:
    by_glob = set(text_of(await grep(pattern="TODO", glob="*.{ts,tsx}")).splitlines()[1:])
    assert by_glob == {str(ws / "src/web/view.tsx")}
    assert set(text_of(await grep(pattern="TODO", type="py")).splitlines()[1:]) == {str(ws / "src/util.py")}
    negated = set(text_of(await grep(pattern="TODO", glob="!*.md")).splitlines()[1:])
    assert str(ws / "README.md") not in negated and str(ws / "src/util.py") in negated


async def test_parent_gitignore_applies_to_a_subdirectory_search(grep, ws: Path) -> None:
    text = text_of(await grep(pattern="TODO", path="src/web"))
    assert text == f"Found 1 file\n{ws}/src/web/view.tsx"


async def test_multiline(grep, ws: Path) -> None:
    text = text_of(await grep(pattern="foo.bar", output_mode="content", multiline=True, path="multi.txt"))
    assert text == "2:foo\n3:bar"
    assert text_of(await grep(pattern="foo.bar", path="multi.txt")) == "No files found"


async def test_head_limit_and_offset(grep, ws: Path) -> None:
    first = text_of(await grep(pattern="hello", output_mode="content", head_limit=2))
    assert len(first.split("\n\n")[0].splitlines()) == 2 and "pass offset=2" in first
    second = text_of(await grep(pattern="hello", output_mode="content", head_limit=2, offset=2))
    assert first.splitlines()[0] not in second


async def test_bad_regex_and_unknown_type_are_errors(grep) -> None:
    assert (await grep(pattern="(unclosed")).is_error


async def test_grep_outside_workspace_refused(grep) -> None:
    assert (await grep(pattern="root", path="/etc")).is_error


QUERIES = [
    {"pattern": "hello"},
    {"pattern": "hello", "output_mode": "content"},
    {"pattern": "hello", "output_mode": "count"},
    {"pattern": "HELLO", "-i": True, "output_mode": "content", "-n": False},
    {"pattern": "TODO", "output_mode": "content", "-C": 1},
    {"pattern": "TODO", "output_mode": "content", "-A": 2, "glob": "src/**"},
    {"pattern": "def \\w+", "output_mode": "content", "type": "py"},
    {"pattern": "^export", "output_mode": "content", "glob": "*.ts *.tsx"},
    {"pattern": "o$", "output_mode": "content"},
    {"pattern": "start.*end", "multiline": True, "output_mode": "content"},
    {"pattern": "hello", "path": "sub", "output_mode": "content"},
    {"pattern": "hello", "path": "src/util.py", "output_mode": "content", "-B": 5},
    {"pattern": "l", "output_mode": "content", "head_limit": 5, "offset": 3},
    {"pattern": "[a-z]+ line", "output_mode": "count"},
    {"pattern": "nothing-matches-this"},
    {"pattern": "TODO", "path": "src/web", "output_mode": "content"},
    {"pattern": "hello", "glob": "*.log"},
    {"pattern": "hello", "glob": "build/**"},
    {"pattern": "hello", "glob": "build"},
    {"pattern": "hello", "glob": "*.py", "type": "js"},
    {"pattern": "hello", "glob": "*.py", "path": "README.md"},
    {"pattern": "hello", "glob": "!src/"},
    {"pattern": "hello", "glob": "/src/*.py"},
    {"pattern": "hello", "glob": "**/*.py !src/app.py"},
    {"pattern": "hello", "glob": "*.txt *.md", "type": "py"},
    {"pattern": "hello", "glob": ".git/*"},
    {"pattern": "e", "output_mode": "content", "head_limit": 3, "offset": 2, "-C": 1},
    {"pattern": "e", "output_mode": "count", "head_limit": 2, "offset": 1},
    {"pattern": "e", "head_limit": 2, "offset": 3},
]


@pytest.mark.skipif(not HAVE_RG, reason="ripgrep (rg) is not installed")
@pytest.mark.parametrize("query", QUERIES, ids=[str(i) for i in range(len(QUERIES))])
async def test_ripgrep_and_python_back_ends_agree(ws: Path, query: dict) -> None:
    from claude_proxy.tools.registry import run_tool

    make_tree(ws)
    rg = await run_tool("Grep", query, context_with(ws, {"grep": {"backend": "ripgrep"}}))
    py = await run_tool("Grep", query, context_with(ws, {"grep": {"backend": "python"}}))
    assert (rg.is_error, rg.content) == (py.is_error, py.content)


async def test_glob_matches_sorted_newest_first(ws: Path, call) -> None:
    make_tree(ws)
    os.utime(ws / "src/util.py", (time.time(), time.time()))
    lines = text_of(await call("Glob", {"pattern": "**/*.py"})).splitlines()
    assert lines[0] == str(ws / "src/util.py")
    assert set(lines) == {str(ws / p) for p in ("src/app.py", "src/util.py", ".hidden/conf.py")}


async def test_glob_top_level_pattern_braces_and_path(ws: Path, call) -> None:
    make_tree(ws)
    assert text_of(await call("Glob", {"pattern": "*.md"})) == str(ws / "README.md")
    braces = set(text_of(await call("Glob", {"pattern": "**/*.{ts,tsx}"})).splitlines())
    assert braces == {str(ws / "src/web/index.ts"), str(ws / "src/web/view.tsx")}
    assert text_of(await call("Glob", {"pattern": "*.ts", "path": "src/web"})) == str(ws / "src/web/index.ts")
    assert text_of(await call("Glob", {"pattern": "**/*.rs"})) == "No files found"


async def test_glob_skips_ignored_directories_but_finds_named_ignored_files(ws: Path, call) -> None:
    make_tree(ws)
    assert str(ws / "build/out.py") not in text_of(await call("Glob", {"pattern": "**/*.py"}))
    assert text_of(await call("Glob", {"pattern": "*.log"})) == str(ws / "notes.log")
    assert text_of(await call("Glob", {"pattern": "**/.git/*"})) == "No files found"


async def test_glob_caps_at_100_with_a_note(ws: Path, call) -> None:
    for i in range(130):
        (ws / f"f{i}.txt").write_text("")
    text = text_of(await call("Glob", {"pattern": "*.txt"}))
    assert len([line for line in text.splitlines() if line.startswith(str(ws))]) == 100
    assert "cut at 100 of 130" in text


async def test_glob_outside_workspace_refused(call) -> None:
    assert (await call("Glob", {"pattern": "*", "path": "/etc"})).is_error


async def test_glob_absolute_patterns(ws: Path, call) -> None:
    make_tree(ws)
    assert text_of(await call("Glob", {"pattern": f"{ws}/src/*.py"})).splitlines()[-1] in {
        str(ws / "src/app.py"), str(ws / "src/util.py")}
    assert (await call("Glob", {"pattern": "/etc/*.conf"})).is_error
    assert (await call("Glob", {"pattern": "../*"})).is_error


def _guard_hides_env(ws: Path) -> bool:
    from claude_proxy.tools.guard import PathDenied, check_path
    from claude_proxy.tools.registry import new_context

    try:
        check_path(str(ws / ".env"), new_context(ws))
    except PathDenied:
        return True
    return False


@pytest.mark.parametrize("backend", BACKENDS)
async def test_grep_leaves_out_files_the_path_rules_hide(ws: Path, backend: str) -> None:
    from claude_proxy.tools.registry import run_tool

    if not _guard_hides_env(ws):
        pytest.skip("the path validator in this checkout does not protect .env files yet")
    (ws / ".env").write_text("API_TOKEN=sk-very-secret\n")
    (ws / "app.cfg").write_text("API_TOKEN=${API_TOKEN}\n")
    result = await run_tool("Grep", {"pattern": "API_TOKEN", "output_mode": "content"},
                            context_with(ws, {"grep": {"backend": backend}}))
    assert "sk-very-secret" not in text_of(result)
    assert "app.cfg" in text_of(result) and "1 matching file was left out" in text_of(result)


@pytest.mark.skipif(not HAVE_RG, reason="ripgrep (rg) is not installed")
async def test_back_ends_agree_when_stopping_early_on_big_trees(ws: Path) -> None:
    from claude_proxy.tools.registry import run_tool

    for d in range(5):
        for f in range(20):
            path = ws / f"d{d}" / f"f{f:02d}.txt"
            path.parent.mkdir(exist_ok=True)
            path.write_text("".join(f"line {i} of {d}/{f}\n" for i in range(100)))
    query = {"pattern": "line [0-9]*5 ", "output_mode": "content", "head_limit": 7, "offset": 95, "-B": 1}
    rg = await run_tool("Grep", query, context_with(ws, {"grep": {"backend": "ripgrep"}}))
    py = await run_tool("Grep", query, context_with(ws, {"grep": {"backend": "python"}}))
    assert rg.content == py.content
    text = text_of(rg)
    assert len(text.split("\n\n")[0].splitlines()) == 7 and "pass offset=102" in text


async def test_auto_falls_back_to_python_without_ripgrep(ws: Path, tmp_path: Path, monkeypatch) -> None:
    from claude_proxy.tools.registry import run_tool

    make_tree(ws)
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    auto = await run_tool("Grep", {"pattern": "TODO", "type": "py"}, context_with(ws, {"grep": {"backend": "auto"}}))
    assert text_of(auto) == f"Found 1 file\n{ws}/src/util.py"
    forced = await run_tool("Grep", {"pattern": "TODO"}, context_with(ws, {"grep": {"backend": "ripgrep"}}))
    assert forced.is_error and "not installed" in text_of(forced)
