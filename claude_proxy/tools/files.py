"""Read and LS: looking at files and directories inside the workspace."""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import os
from pathlib import Path
from typing import Any

from claude_proxy.tools.base import Tool, ToolContext, ToolResult
from claude_proxy.tools.guard import PathDenied
from claude_proxy.tools.workspace import display, inside_roots, record_read, resolve_async

DEFAULT_LIMIT = 2000
MAX_LINE = 2000
MAX_IMAGE_BYTES = 3_750_000  # base64 grows it to the API's 5 MB per-image limit
LS_CAP = 1000
LS_SKIP = {".git", "__pycache__"}

IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def image_type(head: bytes) -> str | None:
    """The media type of an image the API accepts, judged by its magic bytes."""
    for magic, media in IMAGE_MAGIC:
        if head.startswith(magic):
            return media
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def numbered(lines: list[str], first: int) -> str:
    """Lines in ``cat -n`` style: the number right-aligned in six columns, a tab, the text."""
    out = []
    for i, line in enumerate(lines, start=first):
        if len(line) > MAX_LINE:
            line = line[:MAX_LINE] + f"... [line cut at {MAX_LINE} characters]"
        out.append(f"{i:>6}\t{line}")
    return "\n".join(out)


def _read_text(path: Path, offset: int, limit: int) -> ToolResult:
    with path.open("rb") as handle:
        head = handle.read(8192)
    media = image_type(head)
    if media is not None:
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            return ToolResult.error(
                f"{path} is an image of {size} bytes; images over {MAX_IMAGE_BYTES} bytes cannot be sent")
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return ToolResult([{"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}])
    if b"\x00" in head:
        size = path.stat().st_size
        return ToolResult.error(
            f"{path} is a binary file ({size} bytes) and cannot be shown as text; "
            "use Bash with a tool such as `file`, `xxd` or `strings` to inspect it"
        )
    start = max(offset, 1)
    kept: list[str] = []
    total = 0
    more = False
    with path.open("r", encoding="utf-8", errors="replace", newline="\n") as handle:
        for total, line in enumerate(handle, start=1):
            if total >= start + limit:
                more = True  # stop here: a huge file is never read past the requested part
                total -= 1
                break
            if total >= start:
                kept.append(line.rstrip("\n").rstrip("\r"))
    if total == 0:
        return ToolResult(f"(the file {path} exists but is empty)")
    if start > total:
        return ToolResult(f"(the file {path} has {total} lines; offset {offset} is past the end)")
    text = numbered(kept, start)
    last = start + len(kept) - 1
    if more:
        size = path.stat().st_size
        text += (f"\n\n(showing lines {start}-{last}; the file goes on ({size} bytes in all); "
                 f"use offset={last + 1} to read on)")
    elif start > 1:
        text += f"\n\n(showing lines {start}-{last} of {total})"
    return ToolResult(text)


class ReadTool(Tool):
    name = "Read"
    aliases = ("View", "read_file", "ReadFile")
    read_only = True
    key_argument = "file_path"
    description = (
        "Reads a file from the local filesystem. The file_path should be an absolute path "
        "(relative paths are resolved against the working directory).\n"
        "- By default it reads up to 2000 lines from the start of the file; use offset (1-based line "
        "number) and limit for long files.\n"
        "- Lines longer than 2000 characters are cut.\n"
        "- Output is in cat -n format: line numbers start at 1, followed by a tab and the line.\n"
        "- Images (PNG, JPEG, GIF, WebP) are returned as images you can see.\n"
        "- Jupyter notebooks (.ipynb) are shown as cells with their outputs.\n"
        "- A file must be read before it can be edited or overwritten.\n"
        "- Only files inside the working directory (and directories the user added) can be read; "
        "some secrets such as .env files may be refused.\n"
        "- Use LS, not Read, for directories."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "description": "The absolute path to the file to read"},
            "offset": {"type": "integer", "minimum": 0,
                       "description": "The line number to start reading from (1-based)"},
            "limit": {"type": "integer", "minimum": 1, "description": "The number of lines to read"},
        },
        "required": ["file_path"],
        "additionalProperties": False,
    }

    async def run(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        try:
            path = await resolve_async(tool_input["file_path"], context)
        except PathDenied as exc:
            return ToolResult.error(str(exc))
        offset = int(tool_input.get("offset") or 1)
        limit = int(tool_input.get("limit") or DEFAULT_LIMIT)
        return await asyncio.to_thread(self._read, path, offset, limit, context)

    def _read(self, path: Path, offset: int, limit: int, context: ToolContext) -> ToolResult:
        if not path.exists():
            return ToolResult.error(f"File does not exist: {path}")
        if path.is_dir():
            return ToolResult.error(f"{path} is a directory; use LS to list it")
        if not path.is_file():
            return ToolResult.error(f"{path} is not a regular file")
        if path.suffix == ".ipynb":
            from claude_proxy.tools.notebook import render_notebook_file

            result = render_notebook_file(path)
        else:
            result = _read_text(path, offset, limit)
        if not result.is_error:
            record_read(path, context)
        return result


class LSTool(Tool):
    name = "LS"
    aliases = ("List", "list_directory")
    read_only = True
    key_argument = "path"
    description = (
        "Lists files and directories under a path as a tree (directories end with '/'). "
        "The path should be absolute; relative paths are resolved against the working directory. "
        "Optionally pass ignore, a list of glob patterns to leave out. Symlinked directories are "
        "shown but not entered. Prefer Glob and Grep when you know what you are looking for."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "The absolute path to the directory to list"},
            "ignore": {"type": "array", "items": {"type": "string"}, "description": "List of glob patterns to ignore"},
        },
        "required": ["path"],
        "additionalProperties": False,
    }

    async def run(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        try:
            path = await resolve_async(tool_input["path"], context)
        except PathDenied as exc:
            return ToolResult.error(str(exc))
        return await asyncio.to_thread(self._list, path, list(tool_input.get("ignore") or []), context)

    def _list(self, root: Path, ignore: list[str], context: ToolContext) -> ToolResult:
        if not root.exists():
            return ToolResult.error(f"Directory does not exist: {root}")
        if not root.is_dir():
            return ToolResult.error(f"{root} is not a directory; use Read for files")
        lines = [f"- {display(root)}/"]
        count = 0
        capped = False

        def ignored(entry: os.DirEntry[str]) -> bool:
            rel = os.path.relpath(entry.path, root)
            return entry.name in LS_SKIP or any(
                fnmatch.fnmatch(entry.name, pat) or fnmatch.fnmatch(rel, pat) for pat in ignore
            )

        def walk(directory: Path, depth: int) -> None:
            nonlocal count, capped
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError as exc:
                lines.append(f"{'  ' * depth}- (cannot list: {exc.strerror})")
                return
            for entry in entries:
                if capped:
                    return
                if ignored(entry):
                    continue
                count += 1
                if count > LS_CAP:
                    capped = True
                    return
                is_dir = entry.is_dir(follow_symlinks=False)
                if entry.is_symlink():
                    lines.append(f"{'  ' * depth}- {entry.name} -> {os.readlink(entry.path)}")
                elif is_dir:
                    lines.append(f"{'  ' * depth}- {entry.name}/")
                    if inside_roots(Path(entry.path), context):
                        walk(Path(entry.path), depth + 1)
                else:
                    lines.append(f"{'  ' * depth}- {entry.name}")

        walk(root, 1)
        text = "\n".join(lines)
        if capped:
            text += (
                f"\n\n(listing cut at {LS_CAP} entries; list a subdirectory, add ignore patterns, "
                "or use Glob to narrow it down)"
            )
        elif count == 0:
            text += "\n  (empty directory)"
        return ToolResult(text)
