"""Two Grep back ends with one result shape: ripgrep, and a pure-Python fallback.

Both produce `FileHits` (matched and context lines per file, in path order), and the
Grep tool formats them, so the model sees the same text whichever back end ran.
ripgrep is asked for ``--json`` and run with the search root as its working
directory, because it matches ``--glob`` patterns relative to that directory.

Both search the directory the guard checked and holds open (``GrepQuery.dir_fd``).
The Python back end opens every file relative to a directory fd (`walk.walk_entries`).
ripgrep starts in that directory (through ``/proc/<pid>/fd``) but opens files by
name, so its answer is checked afterwards: every line it reports is compared with
the same file read through the fds, and on any difference (a directory was swapped
for a symlink while it searched) the search is done again by the Python back end.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from claude_proxy.tools.guard.beneath import WalkError, open_below
from claude_proxy.tools.walk import glob_match, walk_entries

# A subset of ripgrep's built-in file types, given to rg explicitly so both back ends agree.
FILE_TYPES: dict[str, tuple[str, ...]] = {
    "c": ("*.c", "*.h", "*.H"),
    "cpp": ("*.C", "*.cc", "*.cpp", "*.cxx", "*.c++", "*.h", "*.hh", "*.hpp", "*.hxx", "*.h++", "*.inl"),
    "cs": ("*.cs",),
    "css": ("*.css", "*.scss"),
    "go": ("*.go",),
    "html": ("*.htm", "*.html", "*.ejs"),
    "java": ("*.java", "*.jsp"),
    "js": ("*.js", "*.jsx", "*.mjs", "*.cjs", "*.vue"),
    "json": ("*.json", "*.jsonl"),
    "kotlin": ("*.kt", "*.kts"),
    "lua": ("*.lua",),
    "make": ("Makefile", "makefile", "GNUmakefile", "*.mk", "*.mak"),
    "markdown": ("*.md", "*.markdown", "*.mdx"),
    "md": ("*.md", "*.markdown", "*.mdx"),
    "php": ("*.php", "*.php3", "*.php4", "*.php5", "*.phtml"),
    "py": ("*.py", "*.pyi"),
    "rb": ("*.rb", "Gemfile", "*.gemspec", "Rakefile"),
    "ruby": ("*.rb", "Gemfile", "*.gemspec", "Rakefile"),
    "rust": ("*.rs",),
    "sh": ("*.sh", "*.bash", "*.zsh", ".bashrc", ".bash_profile", ".zshrc", ".profile"),
    "sql": ("*.sql", "*.psql"),
    "swift": ("*.swift",),
    "toml": ("*.toml", "Cargo.lock"),
    "ts": ("*.ts", "*.tsx", "*.cts", "*.mts"),
    "typescript": ("*.ts", "*.tsx", "*.cts", "*.mts"),
    "txt": ("*.txt",),
    "xml": ("*.xml", "*.xml.dist", "*.xsd", "*.xsl", "*.xslt", "*.svg"),
    "yaml": ("*.yaml", "*.yml"),
}


class GrepError(Exception):
    """A search that cannot run (bad pattern, unknown type); the message is for the model."""


@dataclass
class GrepQuery:
    pattern: str
    root: Path
    mode: str = "files_with_matches"
    globs: list[str] = field(default_factory=list)
    file_type: str | None = None
    ignore_case: bool = False
    multiline: bool = False
    before: int = 0
    after: int = 0
    max_lines: int | None = None  # content mode: a back end may stop once it has this many lines
    dir_fd: int = -1  # the checked directory: the root itself, or the one holding the root file
    name: str = ""  # when the root is a file: its name in dir_fd


@dataclass
class FileHits:
    """One file's result: matched line count and (number, text, is_match) lines in order."""

    path: Path
    count: int = 0
    lines: list[tuple[int, str, bool]] = field(default_factory=list)
    samples: list[tuple[int, str]] = field(default_factory=list)  # matched lines kept to verify ripgrep


def ripgrep_path() -> str | None:
    return shutil.which("rg")


def _type_globs(file_type: str | None) -> tuple[str, ...] | None:
    if file_type is None:
        return None
    return FILE_TYPES.get(file_type)


# ---- ripgrep -------------------------------------------------------------------------

MAX_SAMPLES = 100


async def ripgrep_search(query: GrepQuery, rg: str) -> list[FileHits]:
    """Run ripgrep and collect its JSON events into `FileHits`."""
    args = [rg, "--json", "--no-config", "--hidden", "--no-require-git", "--no-ignore-global",
            "--no-ignore-exclude", "--sort", "path"]
    if query.ignore_case:
        args.append("--ignore-case")
    if query.multiline:
        args += ["--multiline", "--multiline-dotall"]
    if query.mode == "content":
        args += ["--before-context", str(query.before), "--after-context", str(query.after)]
    for pattern in query.globs:
        args += ["--glob", pattern]
    args += ["--glob", "!.git"]  # last, so no user glob can bring .git back
    if query.file_type:
        globs = _type_globs(query.file_type)
        if globs is None:
            args += ["--type", query.file_type]
        else:
            for glob in globs:
                args += ["--type-add", f"cpxsel:{glob}"]
            args += ["--type", "cpxsel"]
    is_dir = not query.name
    cwd = query.root if is_dir else query.root.parent
    args += ["--regexp", query.pattern, "--", "." if is_dir else query.name]
    start_in = f"/proc/{os.getpid()}/fd/{query.dir_fd}" if os.path.isdir(f"/proc/{os.getpid()}/fd") else cwd
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=start_in, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    collector = _RgCollector(cwd, keep_lines=query.mode == "content")
    errors = asyncio.create_task(proc.stderr.read())
    stopped = finished = False
    try:
        pending = b""
        while chunk := await proc.stdout.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            for raw in lines:
                collector.feed(raw)
            if query.max_lines is not None and collector.lines >= query.max_lines:
                stopped = True
                break
        else:
            collector.feed(pending)
        finished = True
    finally:
        if proc.returncode is None and (stopped or not finished):
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        await asyncio.shield(proc.wait())
        err = await errors
    if not stopped and proc.returncode not in (0, 1):
        message = err.decode("utf-8", "replace").strip().splitlines()
        raise GrepError("ripgrep: " + (" ".join(message[-3:]) if message else f"exit {proc.returncode}"))
    return collector.results


def _rg_text(obj: dict) -> str:
    if "text" in obj:
        return obj["text"]
    return base64.b64decode(obj.get("bytes", "")).decode("utf-8", "replace")


class _RgCollector:
    """Turns ripgrep's JSON events, one line at a time, into `FileHits` (memory stays bounded)."""

    def __init__(self, cwd: Path, keep_lines: bool) -> None:
        self.cwd = cwd
        self.keep_lines = keep_lines
        self.results: list[FileHits] = []
        self.current: FileHits | None = None
        self.lines = 0

    def feed(self, raw: bytes) -> None:
        if not raw.strip():
            return
        event = json.loads(raw)
        kind, data = event["type"], event.get("data", {})
        if kind == "begin":
            self.current = FileHits(Path(os.path.normpath(self.cwd / _rg_text(data["path"]))))
        elif kind in ("match", "context") and self.current is not None:
            number = data["line_number"]
            parts = _rg_text(data["lines"]).split("\n")
            if parts and parts[-1] == "":
                parts.pop()
            for offset, line in enumerate(parts):
                if kind == "match":
                    self.current.count += 1
                    if len(self.current.samples) < MAX_SAMPLES:
                        self.current.samples.append((number + offset, line.rstrip("\r")))
                if self.keep_lines:
                    self.current.lines.append((number + offset, line.rstrip("\r"), kind == "match"))
                    self.lines += 1
            if self.current.count and (not self.results or self.results[-1] is not self.current):
                self.results.append(self.current)
        elif kind == "end":
            self.current = None


# ---- pure Python ---------------------------------------------------------------------


def _compile(query: GrepQuery) -> re.Pattern[str]:
    flags = re.IGNORECASE if query.ignore_case else 0
    if query.multiline:
        flags |= re.MULTILINE | re.DOTALL
    try:
        return re.compile(query.pattern, flags)
    except re.error as exc:
        raise GrepError(f"invalid regular expression: {exc}") from None


def glob_override(globs: list[str]) -> Callable[[str, bool], bool | None] | None:
    """ripgrep's ``--glob`` rules: gitignore-style globs, ``!`` excludes, the last match wins.

    A glob match beats the ignore files and the file type; with any including glob, a
    file no glob matches is left out; directories no glob matches are left to the
    ignore files.
    """
    if not globs:
        return None
    rules = []
    for raw in globs:
        negated = raw.startswith("!")
        pattern = raw[1:] if negated else raw
        dir_only = pattern.endswith("/")
        pattern = pattern.rstrip("/")
        anchored = "/" in pattern
        rules.append((pattern.lstrip("/"), negated, dir_only, anchored))
    including = any(not negated for _, negated, _, _ in rules)

    def decide(rel: str, is_dir: bool) -> bool | None:
        decision: bool | None = None
        for pattern, negated, dir_only, anchored in rules:
            if dir_only and not is_dir:
                continue
            if glob_match(rel, pattern, match_base=not anchored):
                decision = not negated
        if decision is None and including and not is_dir:
            return False
        return decision

    return decide


def _match_lines(text: str, regex: re.Pattern[str], multiline: bool) -> list[int]:
    """0-based numbers of the lines that contain (a part of) a match."""
    lines = text.split("\n")
    if not multiline:
        return [i for i, line in enumerate(lines) if regex.search(line)]
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    hit: set[int] = set()
    for m in regex.finditer(text):
        first = bisect.bisect_right(starts, m.start()) - 1
        last = bisect.bisect_right(starts, max(m.end() - 1, m.start())) - 1
        hit.update(range(first, last + 1))
    return sorted(hit)


def verified(hits: list[FileHits], query: GrepQuery) -> bool:
    """Whether every line ripgrep reported is what the file, read through the checked fds, holds."""
    base = query.root if not query.name else query.root.parent
    for hit in hits:
        try:
            relative = hit.path.relative_to(base).as_posix()
        except ValueError:
            return False
        data = _read_at(query.dir_fd, relative)
        if data is None:
            return False
        lines = data.decode("utf-8", "replace").split("\n")
        reported = [(number, text) for number, text, _ in hit.lines] + hit.samples
        for number, text in reported:
            if number < 1 or number > len(lines) or lines[number - 1].rstrip("\r") != text:
                return False
    return True


def _search_file(data: bytes | None, path: Path, regex: re.Pattern[str], query: GrepQuery) -> FileHits | None:
    if data is None:
        return None
    if b"\x00" in data:
        return None
    text = data.decode("utf-8", "replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    matched = [i for i in _match_lines(text, regex, query.multiline) if i < len(lines)]
    if not matched:
        return None
    hits = FileHits(path, count=len(matched))
    if query.mode != "content":
        return hits
    show: dict[int, bool] = {}
    for i in matched:
        for j in range(max(i - query.before, 0), min(i + query.after, len(lines) - 1) + 1):
            show.setdefault(j, False)
        show[i] = True
    hits.lines = [(i + 1, lines[i].rstrip("\r"), show[i]) for i in sorted(show)]
    return hits


def _read_at(dir_fd: int, name: str) -> bytes | None:
    try:
        fd, st = open_below(dir_fd, name)
    except (OSError, WalkError):
        return None
    with os.fdopen(fd, "rb") as handle:
        return None if st.st_nlink > 1 else handle.read()


def python_search(query: GrepQuery) -> list[FileHits]:
    """The fallback: walk like ripgrep, match with `re`, one file at a time."""
    regex = _compile(query)
    type_globs = _type_globs(query.file_type)
    if query.file_type and type_globs is None:
        raise GrepError(f"unknown file type '{query.file_type}'; known types: {', '.join(sorted(FILE_TYPES))}")
    results: list[FileHits] = []
    collected = 0
    candidates: Iterable[tuple[Path, int, str]]
    override = glob_override(query.globs)
    explicit = bool(query.name)  # like rg, an explicitly named file skips globs and types
    if explicit:
        candidates = [(query.root, query.dir_fd, query.name)]
    else:
        candidates = walk_entries(query.root, query.dir_fd, override=override)
    for path, dir_fd, name in candidates:
        if not explicit and type_globs is not None:
            forced = override(path.relative_to(query.root).as_posix(), False) if override else None
            if forced is not True and not any(glob_match(path.name, g) for g in type_globs):
                continue
        hits = _search_file(_read_at(dir_fd, name), path, regex, query)
        if hits:
            results.append(hits)
            collected += len(hits.lines)
            if query.max_lines is not None and collected >= query.max_lines:
                break
    return results
