"""NotebookRead and NotebookEdit: Jupyter notebooks as cells, edited through `nbformat`.

Edits go through nbformat so the file stays valid nbformat 4 JSON: the notebook is
validated after the change and before the atomic write, and an edit that would make
it invalid is refused with the validator's reason.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
from pathlib import Path
from typing import Any

from claude_proxy.tools.base import Tool, ToolContext, ToolResult
from claude_proxy.tools.guard import PathDenied
from claude_proxy.tools.workspace import atomic_write, opened, read_file, record_read, stale_reason

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_OUTPUT_CHARS = 10_000


class NotebookError(Exception):
    """A notebook that cannot be read or edited; the message is for the model."""


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
MAX_IMAGES = 10
MAX_IMAGE_B64 = 5_000_000


def _image(output: dict[str, Any]) -> tuple[str, str] | None:
    """The (media type, base64 data) of an image output the API can show, if any."""
    data = output.get("data") or {}
    for media in IMAGE_TYPES:
        if media in data:
            b64 = "".join(_text(data[media]).split())
            return (media, b64) if len(b64) <= MAX_IMAGE_B64 else None
    return None


def _output_text(output: dict[str, Any], images: list[tuple[str, str, str]], ref: str) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return _text(output.get("text"))
    if kind == "error":
        trace = "\n".join(output.get("traceback") or []) or f"{output.get('ename')}: {output.get('evalue')}"
        return ANSI.sub("", trace)
    data = output.get("data") or {}
    image = _image(output)
    if image is not None and len(images) < MAX_IMAGES:
        images.append((ref, *image))
        return f"[{image[0]} output: image {len(images)}, shown after the cells]"
    if "text/plain" in data:
        return _text(data["text/plain"])
    if "text/markdown" in data:
        return _text(data["text/markdown"])
    return "[" + ", ".join(sorted(data)) + " output not shown]" if data else ""


def load_notebook(path: Path, data: bytes) -> Any:
    """The notebook in ``data`` (read through the guard's fd), upgraded to nbformat 4."""
    import nbformat

    try:
        return nbformat.reads(data.decode("utf-8"), as_version=4)
    except (ValueError, KeyError, nbformat.reader.NotJSONError) as exc:
        raise NotebookError(f"{path} is not a valid Jupyter notebook: {exc}") from None


def cell_ref(nb: Any, index: int) -> str:
    """How a cell is named to the model: its id, or ``cell-N`` for notebooks without ids."""
    return nb.cells[index].get("id") or f"cell-{index}"


def render_cells(nb: Any, only: str | None = None) -> str | list[dict[str, Any]]:
    """The cells as text; with image outputs, a text block followed by the images."""
    images: list[tuple[str, str, str]] = []
    metadata = nb.metadata
    language = (metadata.get("language_info", {}).get("name")
                or metadata.get("kernelspec", {}).get("language") or "python")
    parts = []
    for index, cell in enumerate(nb.cells):
        ref = cell_ref(nb, index)
        if only is not None and only != ref:
            continue
        head = f'<cell id="{ref}" type="{cell.cell_type}"'
        if cell.cell_type == "code":
            head += f' language="{language}"'
            if cell.get("execution_count") is not None:
                head += f' execution_count="{cell.execution_count}"'
        block = [head + ">", _text(cell.source)]
        outputs = [_output_text(o, images, ref) for o in cell.get("outputs", [])]
        outputs = [o for o in outputs if o]
        if outputs:
            joined = "\n".join(o.rstrip("\n") for o in outputs)
            if len(joined) > MAX_OUTPUT_CHARS:
                joined = joined[:MAX_OUTPUT_CHARS] + f"\n[... output cut at {MAX_OUTPUT_CHARS} characters]"
            block.append(f"<output>\n{joined}\n</output>")
        block.append("</cell>")
        parts.append("\n".join(block))
    if only is not None and not parts:
        raise NotebookError(f"no cell with id {only!r}")
    text = "\n\n".join(parts) if parts else "(the notebook has no cells)"
    if not images:
        return text
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}]
    for number, (ref, media, data) in enumerate(images, start=1):
        blocks.append({"type": "text", "text": f"Image {number} (output of cell {ref}):"})
        blocks.append({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}})
    return blocks


def render_notebook_bytes(path: Path, data: bytes, only: str | None = None) -> ToolResult:
    """A notebook file's bytes as text, for NotebookRead and for Read on ``.ipynb`` files."""
    try:
        return ToolResult(render_cells(load_notebook(path, data), only))
    except NotebookError as exc:
        return ToolResult.error(str(exc))


def find_cell(nb: Any, cell_id: str) -> int:
    for index in range(len(nb.cells)):
        if cell_ref(nb, index) == cell_id or nb.cells[index].get("id") == cell_id:
            return index
    if cell_id.isdigit() and int(cell_id) < len(nb.cells):
        return int(cell_id)
    raise NotebookError(f"no cell with id {cell_id!r} in the notebook; NotebookRead shows the ids")


class NotebookReadTool(Tool):
    name = "NotebookRead"
    aliases = ("ReadNotebook", "notebook_read")
    read_only = True
    key_argument = "notebook_path"
    description = (
        "Reads a Jupyter notebook (.ipynb) and returns its cells with their outputs as text (plots "
        "and other image outputs as images), each with the id NotebookEdit uses. Pass cell_id to "
        "show one cell."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "notebook_path": {"type": "string", "description": "The absolute path to the notebook file"},
            "cell_id": {"type": "string", "description": "The id of one cell to read"},
        },
        "required": ["notebook_path"],
        "additionalProperties": False,
    }

    async def run(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        try:
            return await asyncio.to_thread(self._read, tool_input["notebook_path"], tool_input.get("cell_id"),
                                           context)
        except PathDenied as exc:
            return ToolResult.error(str(exc))

    def _read(self, raw: str, cell_id: str | None, context: ToolContext) -> ToolResult:
        with opened(raw, context) as found:
            if found.st is None or not stat.S_ISREG(found.st.st_mode):
                return ToolResult.error(f"Notebook does not exist: {found.path}")
            fd, st = read_file(found, context)
            with os.fdopen(fd, "rb") as handle:
                result = render_notebook_bytes(found.path, handle.read(), cell_id)
        if not result.is_error:
            record_read(found.path, context, st)
        return result


class NotebookEditTool(Tool):
    name = "NotebookEdit"
    aliases = ("NotebookEditCell", "notebook_edit")
    key_argument = "notebook_path"
    description = (
        "Replaces, inserts or deletes one cell of a Jupyter notebook (.ipynb). Read the notebook "
        "first. cell_id names the cell (as shown by NotebookRead or Read). edit_mode replace "
        "(default) sets the cell's source (and clears a code cell's outputs); insert adds a new cell "
        "after cell_id, or at the start without one, and needs cell_type; delete removes the cell."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "notebook_path": {"type": "string", "description": "The absolute path to the notebook file"},
            "cell_id": {"type": "string",
                        "description": "The id of the cell to edit; for insert, the new cell goes after it"},
            "new_source": {"type": "string", "description": "The new source for the cell"},
            "cell_type": {"type": "string", "enum": ["code", "markdown"],
                          "description": "The type of the cell; required for insert"},
            "edit_mode": {"type": "string", "enum": ["replace", "insert", "delete"],
                          "description": "replace (default), insert or delete"},
        },
        "required": ["notebook_path", "new_source"],
        "additionalProperties": False,
    }

    async def run(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        try:
            return await asyncio.to_thread(self._open_and_edit, tool_input, context)
        except (NotebookError, PathDenied) as exc:
            return ToolResult.error(str(exc))
        except OSError as exc:
            return ToolResult.error(f"cannot write {tool_input['notebook_path']}: {exc.strerror or exc}")

    def _open_and_edit(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        with opened(tool_input["notebook_path"], context, write=True) as found:
            path = found.path
            if found.st is None or not stat.S_ISREG(found.st.st_mode):
                raise NotebookError(f"Notebook does not exist: {path}")
            if path.suffix != ".ipynb":
                raise NotebookError(f"{path} is not a .ipynb file; use Edit for other files")
            fd, st = read_file(found, context)
            with os.fdopen(fd, "rb") as handle:
                data = handle.read()
            reason = stale_reason(path, context, st)
            if reason:
                raise NotebookError(reason)
            text, done = self._edit(load_notebook(path, data), tool_input)
            record_read(path, context, atomic_write(found, text.encode("utf-8") + b"\n", context))
        return ToolResult(f"{done} in {path}.")

    def _edit(self, nb: Any, tool_input: dict[str, Any]) -> tuple[str, str]:
        """The notebook with the edit applied, as nbformat JSON, and what changed."""
        import nbformat
        from nbformat import v4

        mode = tool_input.get("edit_mode") or "replace"
        cell_id, source, cell_type = tool_input.get("cell_id"), tool_input["new_source"], tool_input.get("cell_type")
        if mode == "insert":
            if cell_type is None:
                raise NotebookError("cell_type (code or markdown) is required to insert a cell")
            cell = v4.new_code_cell(source) if cell_type == "code" else v4.new_markdown_cell(source)
            if (nb.nbformat, nb.nbformat_minor) < (4, 5):
                cell.pop("id", None)
            at = find_cell(nb, cell_id) + 1 if cell_id else 0
            nb.cells.insert(at, cell)
            done = f"Inserted a {cell_type} cell {cell_ref(nb, at)} at position {at + 1}"
        else:
            if not cell_id:
                raise NotebookError(f"cell_id is required to {mode} a cell")
            index = find_cell(nb, cell_id)
            if mode == "delete":
                nb.cells.pop(index)
                done = f"Deleted cell {cell_id}"
            else:
                old = nb.cells[index]
                new_type = cell_type or old.cell_type
                if new_type != old.cell_type:
                    cell = v4.new_code_cell(source) if new_type == "code" else v4.new_markdown_cell(source)
                    if "id" in old:
                        cell["id"] = old["id"]
                    else:
                        cell.pop("id", None)
                    cell.metadata = old.get("metadata", {})
                    nb.cells[index] = cell
                else:
                    old.source = source
                    if old.cell_type == "code":
                        old.outputs = []
                        old.execution_count = None
                done = f"Updated cell {cell_id}"
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError as exc:
            raise NotebookError(f"the edit would make the notebook invalid: {exc.message}") from None
        return str(nbformat.writes(nb)), done
