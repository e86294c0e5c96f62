"""Read and LS: looking at files and directories inside the workspace."""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import io
import os
import stat
from pathlib import Path
from typing import IO, Any

from claude_proxy.tools.base import Tool, ToolContext, ToolResult
from claude_proxy.tools.guard import PathDenied
from claude_proxy.tools.guard.beneath import LIST_FLAGS
from claude_proxy.tools.workspace import display, list_dir, opened, read_file, record_read

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


def _read_text(path: Path, handle: IO[bytes], size: int, offset: int, limit: int) -> ToolResult:
    head = handle.read(8192)
    media = image_type(head)
    if media is not None:
        if size > MAX_IMAGE_BYTES:
            return ToolResult.error(
                f"{path} is an image of {size} bytes; images over {MAX_IMAGE_BYTES} bytes cannot be sent")
        data = base64.b64encode(head + handle.read(MAX_IMAGE_BYTES)).decode("ascii")
        return ToolResult([{"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}])
    if b"\x00" in head:
        return ToolResult.error(
            f"{path} is a binary file ({size} bytes) and cannot be shown as text; "
            "use Bash with a tool such as `file`, `xxd` or `strings` to inspect it"
        )
    handle.seek(0)
    start = max(offset, 1)
    kept: list[str] = []
    total = 0
    more = False
    text_handle = io.TextIOWrapper(handle, encoding="utf-8", errors="replace", newline="\n")
    for total, line in enumerate(text_handle, start=1):
        if total >= start + limit:
            more = True  # stop here: a huge file is never read past the requested part
            total -= 1
            break
        if total >= start:
            kept.append(line.rstrip("\n").rstrip("\r"))
    text_handle.detach()
    if total == 0:
        return ToolResult(f"(the file {path} exists but is empty)")
    if start > total:
        return ToolResult(f"(the file {path} has {total} lines; offset {offset} is past the end)")
    text = numbered(kept, start)
    last = start + len(kept) - 1
    if more:
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
        offset = int(tool_input.get("offset") or 1)
        limit = int(tool_input.get("limit") or DEFAULT_LIMIT)
        try:
            return await asyncio.to_thread(self._read, tool_input["file_path"], offset, limit, context)
        except PathDenied as exc:
            return ToolResult.error(str(exc))

    def _read(self, raw: str, offset: int, limit: int, context: ToolContext) -> ToolResult:
        with opened(raw, context) as found:
            path = found.path
            if found.st is None:
                return ToolResult.error(f"File does not exist: {path}")
            if stat.S_ISDIR(found.st.st_mode):
                return ToolResult.error(f"{path} is a directory; use LS to list it")
            fd, st = read_file(found, context)
            with os.fdopen(fd, "rb") as handle:
                if path.suffix == ".ipynb":
                    from claude_proxy.tools.notebook import render_notebook_bytes

                    result = render_notebook_bytes(path, handle.read())
                else:
                    result = _read_text(path, handle, st.st_size, offset, limit)
        if not result.is_error:
            record_read(path, context, st)
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
        ignore = list(tool_input.get("ignore") or [])
        try:
            return await asyncio.to_thread(self._list, tool_input["path"], ignore, context)
        except PathDenied as exc:
            return ToolResult.error(str(exc))

    def _list(self, raw: str, ignore: list[str], context: ToolContext) -> ToolResult:
        with opened(raw, context) as found:
            root = found.path
            if found.st is None:
                return ToolResult.error(f"Directory does not exist: {root}")
            if not stat.S_ISDIR(found.st.st_mode):
                return ToolResult.error(f"{root} is not a directory; use Read for files")
            root_fd = list_dir(found)
        try:
            return _tree(root, root_fd, ignore)
        finally:
            os.close(root_fd)


def _tree(root: Path, root_fd: int, ignore: list[str]) -> ToolResult:
    """The listing, walked through directory fds opened with ``O_NOFOLLOW`` (symlinks are shown, not entered)."""
    lines = [f"- {display(root)}/"]
    count = 0
    capped = False

    def ignored(name: str, rel: str) -> bool:
        return name in LS_SKIP or any(fnmatch.fnmatch(name, pat) or fnmatch.fnmatch(rel, pat) for pat in ignore)

    def walk(dir_fd: int, prefix: str, depth: int) -> None:
        nonlocal count, capped
        try:
            with os.scandir(dir_fd) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            lines.append(f"{'  ' * depth}- (cannot list: {exc.strerror})")
            return
        for entry in entries:
            if capped:
                return
            rel = prefix + entry.name
            if ignored(entry.name, rel):
                continue
            count += 1
            if count > LS_CAP:
                capped = True
                return
            if entry.is_symlink():
                try:
                    target = os.readlink(entry.name, dir_fd=dir_fd)
                except OSError:
                    target = "?"
                lines.append(f"{'  ' * depth}- {entry.name} -> {target}")
            elif entry.is_dir(follow_symlinks=False):
                lines.append(f"{'  ' * depth}- {entry.name}/")
                try:
                    child = os.open(entry.name, LIST_FLAGS, dir_fd=dir_fd)
                except OSError:
                    continue  # replaced by a symlink or removed since it was listed: not entered
                try:
                    walk(child, rel + "/", depth + 1)
                finally:
                    os.close(child)
            else:
                lines.append(f"{'  ' * depth}- {entry.name}")

    walk(root_fd, "", 1)
    text = "\n".join(lines)
    if capped:
        text += (
            f"\n\n(listing cut at {LS_CAP} entries; list a subdirectory, add ignore patterns, "
            "or use Glob to narrow it down)"
        )
    elif count == 0:
        text += "\n  (empty directory)"
    return ToolResult(text)
