"""Glob and Grep: finding files by name and by content."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

from claude_proxy.tools.base import Tool, ToolContext, ToolResult
from claude_proxy.tools.grepengine import (
    FileHits,
    GrepError,
    GrepQuery,
    python_search,
    ripgrep_path,
    ripgrep_search,
    verified,
)
from claude_proxy.tools.guard import PathDenied
from claude_proxy.tools.walk import glob_match, walk_entries
from claude_proxy.tools.workspace import display, list_dir, opened, resolve

GLOB_CAP = 100
GREP_HEAD_LIMIT = 250
GREP_MAX_LINE = 500
GREP_MAX_CHARS = 30_000


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def newest_first(paths: list[Path], mtimes: dict[Path, float] | None = None) -> list[Path]:
    """Most recently modified first; ties in path order, so the order is stable."""
    if mtimes is None:
        mtimes = {path: _mtime(path) for path in paths}
    return sorted(sorted(paths), key=lambda p: mtimes.get(p, 0.0), reverse=True)


class GlobTool(Tool):
    name = "Glob"
    aliases = ("GlobTool", "glob")
    read_only = True
    key_argument = "pattern"
    description = (
        "Fast file pattern matching for any codebase size. Supports glob patterns like "
        '"**/*.js", "src/**/*.{ts,tsx}" or "*.md" (a pattern without "**/" matches only at the top '
        "of the search directory). Returns matching file paths, most recently modified first, at "
        "most 100. Directories ignored by .gitignore and the .git directory are not searched. Use it to find "
        "files by name; use Grep to search inside files."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "description": "The glob pattern to match files against"},
            "path": {
                "type": "string",
                "description": "The directory to search in; defaults to the working directory. "
                "Omit it for the default rather than passing null.",
            },
        },
        "required": ["pattern"],
        "additionalProperties": False,
    }

    async def run(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        base, pattern = split_glob(tool_input["pattern"])
        directory = tool_input.get("path") or str(context.cwd)
        if base:
            directory = str(Path(directory) / base)
        try:
            return await asyncio.to_thread(self._glob, directory, pattern, context)
        except PathDenied as exc:
            return ToolResult.error(str(exc))

    def _glob(self, directory: str, pattern: str, context: ToolContext) -> ToolResult:
        with opened(directory, context) as found:
            root = found.path
            if found.st is None or not stat.S_ISDIR(found.st.st_mode):
                return ToolResult.error(f"Directory does not exist: {root}")
            root_fd = list_dir(found)
        mtimes: dict[Path, float] = {}
        try:
            # like `rg --files --glob`: a file the pattern names is found even if .gitignore hides it,
            # but ignored directories (build/, node_modules/) are not entered
            for path, dir_fd, name in walk_entries(
                    root, root_fd, override=lambda rel, is_dir: None if is_dir else glob_match(rel, pattern)):
                try:
                    mtimes[path] = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mtime
                except OSError:
                    continue
        finally:
            os.close(root_fd)
        if not mtimes:
            return ToolResult("No files found")
        ordered = newest_first(list(mtimes), mtimes)
        text = "\n".join(display(p) for p in ordered[:GLOB_CAP])
        if len(ordered) > GLOB_CAP:
            text += (
                f"\n\n(Results are cut at {GLOB_CAP} of {len(ordered)} files. "
                "Use a more specific pattern or path.)"
            )
        return ToolResult(text)


def split_glob(pattern: str) -> tuple[str, str]:
    """Split the literal leading directories off a pattern: ``/abs/src/**/*.py`` -> (``/abs/src``, ``**/*.py``)."""
    parts = pattern.split("/")
    literal = 0
    while literal < len(parts) - 1 and not any(ch in parts[literal] for ch in "*?[{"):
        literal += 1
    base = "/".join(parts[:literal])
    if pattern.startswith("/") and not base:
        base = "/"
    rest = "/".join(parts[literal:])
    return base, rest


def _cut(line: str) -> str:
    return line if len(line) <= GREP_MAX_LINE else line[:GREP_MAX_LINE] + " [... line cut]"


def format_hits(hits: list[FileHits], query: GrepQuery, numbers: bool, head_limit: int, offset: int) -> str:
    """The text the model sees; identical for both back ends by construction."""
    single = bool(query.name)
    if query.mode == "files_with_matches":
        entries = [display(p) for p in newest_first([h.path for h in hits])]
        summary = f"Found {len(entries)} file{'s' if len(entries) != 1 else ''}"
    elif query.mode == "count":
        entries = [f"{display(h.path)}:{h.count}" for h in hits]
        total = sum(h.count for h in hits)
        summary = (f"Found {total} matching line{'s' if total != 1 else ''} "
                   f"across {len(hits)} file{'s' if len(hits) != 1 else ''}")
    else:
        entries = []
        for index, h in enumerate(hits):
            if index and (query.before or query.after):
                entries.append("--")
            previous = None
            for number, text, is_match in h.lines:
                if previous is not None and number != previous + 1:
                    entries.append("--")
                previous = number
                sep = ":" if is_match else "-"
                prefix = "" if single else display(h.path) + sep
                entries.append(f"{prefix}{number}{sep}{_cut(text)}" if numbers else f"{prefix}{_cut(text)}")
        summary = ""
    if not hits:
        return "No matches found" if query.mode != "files_with_matches" else "No files found"
    shown = entries[offset:] if head_limit == 0 else entries[offset:offset + head_limit]
    parts = [summary] if summary else []
    parts += shown
    text = "\n".join(parts)
    rest = len(entries) - offset - len(shown)
    if len(text) > GREP_MAX_CHARS:
        text = text[:GREP_MAX_CHARS] + (f"\n[... output cut at {GREP_MAX_CHARS} characters; "
                                        "narrow the search or use head_limit/offset]")
    if rest > 0:
        # content mode may stop searching early, so its total is not known: say only that more follow
        of_total = "" if query.mode == "content" else f" of {len(entries)}"
        text += (
            f"\n\n(Showing entries {offset + 1}-{offset + len(shown)}{of_total}; more follow: "
            f"pass offset={offset + len(shown)} to see them.)"
        )
    elif not shown:
        text += f"\n\n(offset {offset} is past the last of {len(entries)} entries)"
    return text


class GrepTool(Tool):
    name = "Grep"
    aliases = ("GrepTool", "grep", "search_file_content")
    read_only = True
    key_argument = "pattern"
    description = (
        "A powerful search tool built on ripgrep (a compatible pure-Python search is used when "
        "ripgrep is not installed).\n"
        '- Supports full regex syntax (e.g. "log.*Error", "function\\s+\\w+"); literal braces need '
        'escaping ("interface\\{\\}").\n'
        '- Filter files with glob (e.g. "*.js", "**/*.tsx", "!*.min.js") or type (e.g. "py", "js", "rust").\n'
        '- output_mode: "files_with_matches" (default) lists files, most recently modified first; '
        '"content" shows matching lines (with -A/-B/-C context and -n line numbers, on by default); '
        '"count" shows matching lines per file.\n'
        "- Patterns match within single lines; set multiline true for patterns that span lines.\n"
        "- Results are cut to head_limit entries (250 by default, 0 for no limit); use offset to page.\n"
        "- Files ignored by .gitignore and the .git directory are skipped; a glob that matches an "
        'ignored file (e.g. "*.log") still searches it.\n'
        "- Always use Grep for searching; do not run grep or rg through Bash."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "description": "The regular expression to search for"},
            "path": {"type": "string",
                     "description": "File or directory to search in; defaults to the working directory"},
            "glob": {"type": "string",
                     "description": 'Glob to filter files (e.g. "*.js", "*.{ts,tsx}"); several separated by spaces'},
            "type": {"type": "string", "description": "File type to search (rg --type), e.g. py, js, rust, go, java"},
            "output_mode": {
                "type": "string",
                "enum": ["content", "files_with_matches", "count"],
                "description": 'Output mode; defaults to "files_with_matches"',
            },
            "-i": {"type": "boolean", "description": "Case insensitive search"},
            "-n": {"type": "boolean", "description": 'Show line numbers (content mode only); defaults to true'},
            "-A": {"type": "integer", "minimum": 0,
                   "description": "Lines to show after each match (content mode only)"},
            "-B": {"type": "integer", "minimum": 0,
                   "description": "Lines to show before each match (content mode only)"},
            "-C": {"type": "integer", "minimum": 0,
                   "description": "Lines to show before and after each match (content mode only)"},
            "multiline": {"type": "boolean", "description": "Let . match newlines and patterns span lines"},
            "head_limit": {"type": "integer", "minimum": 0,
                           "description": "Show only the first N entries (default 250; 0 for all)"},
            "offset": {"type": "integer", "minimum": 0,
                       "description": "Skip the first N entries before head_limit applies"},
        },
        "required": ["pattern"],
        "additionalProperties": False,
    }

    async def run(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        raw = tool_input.get("path") or str(context.cwd)
        try:
            held = await asyncio.to_thread(_hold, raw, context)
        except PathDenied as exc:
            return ToolResult.error(str(exc))
        if held is None:
            return ToolResult.error(f"Path does not exist: {raw}")
        root, dir_fd, name = held
        try:
            return await self._search(tool_input, context, root, dir_fd, name)
        finally:
            os.close(dir_fd)

    async def _search(self, tool_input: dict[str, Any], context: ToolContext, root: Path, dir_fd: int,
                      name: str) -> ToolResult:
        mode = tool_input.get("output_mode") or "files_with_matches"
        context_lines = tool_input.get("-C")
        query = GrepQuery(
            pattern=tool_input["pattern"],
            root=root,
            mode=mode,
            globs=(tool_input.get("glob") or "").split(),
            file_type=tool_input.get("type") or None,
            ignore_case=bool(tool_input.get("-i")),
            multiline=bool(tool_input.get("multiline")),
            before=int(tool_input.get("-B", context_lines) or 0),
            after=int(tool_input.get("-A", context_lines) or 0),
            dir_fd=dir_fd,
            name=name,
        )
        head_limit = int(tool_input.get("head_limit", GREP_HEAD_LIMIT))
        offset = int(tool_input.get("offset", 0) or 0)
        if mode == "content" and head_limit:
            query.max_lines = offset + head_limit + 1
        backend = context.settings.tools.grep.backend
        rg = ripgrep_path() if backend != "python" else None
        if backend == "ripgrep" and rg is None:
            return ToolResult.error(
                "settings ask for the ripgrep Grep back end (tools.grep.backend) but rg is not installed")
        try:
            hits = await ripgrep_search(query, rg) if rg else await asyncio.to_thread(python_search, query)
            if rg and not await asyncio.to_thread(verified, hits, query):
                # the files changed under ripgrep (e.g. a directory swapped for a symlink): search through the fds
                hits = await asyncio.to_thread(python_search, query)
        except GrepError as exc:
            return ToolResult.error(str(exc))
        hits, refused = await asyncio.to_thread(readable_hits, hits, context)
        numbers = tool_input.get("-n", True)
        text = await asyncio.to_thread(format_hits, hits, query, bool(numbers), head_limit, offset)
        if refused:
            files = f"{refused} matching files were" if refused != 1 else "1 matching file was"
            text += f"\n\n({files} left out: the path rules do not allow reading them)"
        return ToolResult(text)


def _hold(raw: str, context: ToolContext) -> tuple[Path, int, str] | None:
    """The checked search root and an fd to search through: the directory, or the one holding the file."""
    with opened(raw, context) as found:
        if found.st is None:
            return None
        if stat.S_ISDIR(found.st.st_mode):
            return found.path, list_dir(found), ""
        return found.path, os.dup(found.dir_fd), found.name


def readable_hits(hits: list[FileHits], context: ToolContext) -> tuple[list[FileHits], int]:
    """Only the hits in files Read could open, so Grep never shows what the path rules hide (e.g. .env)."""
    kept = []
    for hit in hits:
        try:
            resolve(str(hit.path), context)
        except PathDenied:
            continue
        kept.append(hit)
    return kept, len(hits) - len(kept)
