"""Write, Edit and MultiEdit: changing files, only after the model has read them.

Every change is all-or-nothing: the new text is computed in memory, checked, then
written with an atomic rename, so a failed edit leaves the file exactly as it was.
"""

from __future__ import annotations

import asyncio
import os
import stat
from typing import Any

from claude_proxy.tools.base import Tool, ToolContext, ToolResult
from claude_proxy.tools.files import numbered
from claude_proxy.tools.guard import PathDenied
from claude_proxy.tools.guard.beneath import Located
from claude_proxy.tools.workspace import atomic_write, opened, read_file, record_read, stale_reason

SNIPPET_CONTEXT = 3


class EditFailed(Exception):
    """An edit that cannot be applied; the message is for the model."""


def apply_edit(text: str, old: str, new: str, replace_all: bool) -> str:
    """``text`` with one edit applied, or `EditFailed` saying why it cannot be."""
    if old == new:
        raise EditFailed("old_string and new_string are the same; there is nothing to change")
    if old == "":
        raise EditFailed("old_string is empty; it must be text that exists in the file")
    if "\r\n" in text and "\r\n" not in old and "\n" in old:
        old, new = old.replace("\n", "\r\n"), new.replace("\n", "\r\n")
    found = text.count(old)
    if found == 0:
        raise EditFailed("old_string was not found in the file (it must match exactly, including whitespace)")
    if found > 1 and not replace_all:
        raise EditFailed(
            f"old_string was found {found} times; add surrounding lines to make it unique, "
            "or set replace_all to change every occurrence"
        )
    return text.replace(old, new) if replace_all else text.replace(old, new, 1)


def snippet(before: str, after: str, new: str) -> str:
    """A few numbered lines of ``after`` around the first place it differs from ``before``."""
    at = len(os.path.commonprefix([before, after]))
    lines = after.split("\n")
    first = after.count("\n", 0, at)
    last = first + new.count("\n")
    lo, hi = max(first - SNIPPET_CONTEXT, 0), min(last + SNIPPET_CONTEXT + 1, len(lines))
    return numbered(lines[lo:hi], lo + 1)


def _exists(found: Located) -> bool:
    if found.st is None:
        return False
    if not stat.S_ISREG(found.st.st_mode):
        raise EditFailed(f"{found.path} is not a regular file")
    return True


def _load(found: Located, context: ToolContext) -> str:
    if not _exists(found):
        raise EditFailed(f"File does not exist: {found.path}")
    fd, st = read_file(found, context)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read()
    reason = stale_reason(found.path, context, st)
    if reason:
        raise EditFailed(reason)
    if b"\x00" in data[:8192]:
        raise EditFailed(f"{found.path} is a binary file; it cannot be edited as text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise EditFailed(f"{found.path} is not valid UTF-8; it cannot be edited safely") from None


def _save(found: Located, text: str, context: ToolContext) -> None:
    record_read(found.path, context, atomic_write(found, text.encode("utf-8"), context))


class _FileChangeTool(Tool):
    """Shared plumbing: open for writing through the guard, change in a thread, map failures."""

    key_argument = "file_path"

    async def run(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        try:
            return await asyncio.to_thread(self._open_and_change, tool_input, context)
        except (EditFailed, PathDenied) as exc:
            return ToolResult.error(str(exc))
        except OSError as exc:
            return ToolResult.error(f"cannot write {tool_input['file_path']}: {exc.strerror or exc}")

    def _open_and_change(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        with opened(tool_input["file_path"], context, write=True) as found:
            return self.change(found, tool_input, context)

    def change(self, found: Located, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        raise NotImplementedError


class WriteTool(_FileChangeTool):
    name = "Write"
    aliases = ("write_file", "WriteFile", "Replace")
    description = (
        "Writes a file to the local filesystem, creating it (and its parent directories) or "
        "overwriting it.\n"
        "- Overwriting an existing file requires that you Read it first in this conversation; "
        "otherwise the call fails.\n"
        "- Prefer Edit for changing existing files; use Write for new files or complete rewrites.\n"
        "- The file_path should be absolute; relative paths are resolved against the working directory.\n"
        "- Only files inside the working directory (and directories the user added) can be written."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "description": "The absolute path to the file to write"},
            "content": {"type": "string", "description": "The content to write to the file"},
        },
        "required": ["file_path", "content"],
        "additionalProperties": False,
    }

    def change(self, found: Located, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        path = found.path
        existed = _exists(found)
        if existed:
            assert found.st is not None
            reason = stale_reason(path, context, found.st)
            if reason:
                raise EditFailed(reason)
        _save(found, tool_input["content"], context)
        if existed:
            return ToolResult(f"The file {path} has been overwritten.")
        return ToolResult(f"File created successfully at: {path}")


class EditTool(_FileChangeTool):
    name = "Edit"
    aliases = ("edit_file", "EditFile", "str_replace")
    description = (
        "Performs an exact string replacement in a file.\n"
        "- You must Read the file in this conversation before editing it, and it must not have "
        "changed since.\n"
        "- old_string must match the file exactly, including indentation; do not include the line "
        "number prefix from Read's output.\n"
        "- The edit fails if old_string is not found, or is found more than once; give more "
        "surrounding context to make it unique, or set replace_all to change every occurrence.\n"
        "- old_string and new_string must differ.\n"
        "- With an empty old_string and a file that does not exist yet, the file is created with new_string."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "description": "The absolute path to the file to modify"},
            "old_string": {"type": "string", "description": "The text to replace"},
            "new_string": {"type": "string",
                           "description": "The text to replace it with (must differ from old_string)"},
            "replace_all": {"type": "boolean", "default": False,
                            "description": "Replace all occurrences of old_string"},
        },
        "required": ["file_path", "old_string", "new_string"],
        "additionalProperties": False,
    }

    def change(self, found: Located, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        path = found.path
        old, new = tool_input["old_string"], tool_input["new_string"]
        if old == "" and not _exists(found):
            _save(found, new, context)
            return ToolResult(f"File created successfully at: {path}")
        text = _load(found, context)
        updated = apply_edit(text, old, new, bool(tool_input.get("replace_all")))
        _save(found, updated, context)
        return ToolResult(f"The file {path} has been updated. Around the change:\n{snippet(text, updated, new)}")


class MultiEditTool(_FileChangeTool):
    name = "MultiEdit"
    aliases = ("multi_edit",)
    description = (
        "Makes several exact string replacements in one file in one step. The edits are applied "
        "in order, each to the result of the previous one, and either all of them succeed or none "
        "is applied.\n"
        "- Same rules as Edit for each edit: Read the file first; old_string must match exactly "
        "and be unique unless replace_all is set; old_string and new_string must differ.\n"
        "- Plan the edits so an earlier one does not change text a later one looks for."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "description": "The absolute path to the file to modify"},
            "edits": {
                "type": "array",
                "minItems": 1,
                "description": "Edits to apply in order",
                "items": {
                    "type": "object",
                    "properties": {
                        "old_string": {"type": "string", "description": "The text to replace"},
                        "new_string": {"type": "string", "description": "The text to replace it with"},
                        "replace_all": {"type": "boolean", "default": False, "description": "Replace all occurrences"},
                    },
                    "required": ["old_string", "new_string"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["file_path", "edits"],
        "additionalProperties": False,
    }

    def change(self, found: Located, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        path = found.path
        edits = tool_input["edits"]
        creating = not _exists(found) and edits[0]["old_string"] == ""
        if creating:
            text, rest = edits[0]["new_string"], edits[1:]
        else:
            text, rest = _load(found, context), edits
        for number, edit in enumerate(rest, start=2 if creating else 1):
            try:
                text = apply_edit(text, edit["old_string"], edit["new_string"], bool(edit.get("replace_all")))
            except EditFailed as exc:
                raise EditFailed(f"edit {number} of {len(edits)}: {exc}; no edit was applied") from None
        _save(found, text, context)
        verb = "created with" if creating else "updated with"
        return ToolResult(f"The file {path} was {verb} {len(edits)} edit{'s' if len(edits) != 1 else ''}.")
