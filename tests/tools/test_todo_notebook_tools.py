"""TodoWrite/TodoRead per session, and NotebookRead/NotebookEdit keeping notebooks valid."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat import v4

from claude_proxy.tools.base import ToolSession
from claude_proxy.tools.registry import new_context, run_tool
from tests.tools.helpers import text_of

TODOS = [
    {"content": "Write the parser", "status": "completed", "activeForm": "Writing the parser"},
    {"content": "Run the tests", "status": "in_progress", "activeForm": "Running the tests"},
    {"content": "Update the docs", "status": "pending", "activeForm": "Updating the docs"},
]


async def test_todo_write_then_read(ctx, call) -> None:
    assert text_of(await call("TodoRead", {})) == "The todo list is empty."
    result = await call("TodoWrite", {"todos": TODOS})
    assert not result.is_error
    assert ctx.session.todos == TODOS
    assert text_of(await call("TodoRead", {})) == (
        "1. [x] Write the parser\n2. [~] Running the tests\n3. [ ] Update the docs"
    )


async def test_todo_at_most_one_in_progress(ctx, call) -> None:
    await call("TodoWrite", {"todos": TODOS})
    two = [dict(t, status="in_progress") for t in TODOS[:2]]
    result = await call("TodoWrite", {"todos": two})
    assert result.is_error and "at most one" in text_of(result)
    assert ctx.session.todos == TODOS


async def test_todos_are_per_session(ws: Path) -> None:
    one, two = new_context(ws, session=ToolSession("one")), new_context(ws, session=ToolSession("two"))
    await run_tool("TodoWrite", {"todos": TODOS}, one)
    assert text_of(await run_tool("TodoRead", {}, two)) == "The todo list is empty."


async def test_todo_schema_names_bad_field(call) -> None:
    result = await call("TodoWrite", {"todos": [{"content": "x", "status": "doing", "activeForm": "x"}]})
    assert result.is_error and "todos[0].status" in text_of(result)


def make_notebook(path: Path) -> list[str]:
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        v4.new_markdown_cell("# Analysis"),
        v4.new_code_cell("print('hi')", execution_count=1, outputs=[
            v4.new_output("stream", name="stdout", text="hi\n")]),
        v4.new_code_cell("1/0", execution_count=2, outputs=[
            v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                          traceback=["\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"])]),
        v4.new_code_cell("x", execution_count=3, outputs=[
            v4.new_output("execute_result", data={"text/plain": "42", "image/png": "AAAA"}, execution_count=3)]),
    ]
    nbformat.write(nb, str(path))
    return [c["id"] for c in nb.cells]


async def test_notebook_read_shows_cells_and_outputs(ws: Path, call) -> None:
    ids = make_notebook(ws / "a.ipynb")
    result = await call("NotebookRead", {"notebook_path": "a.ipynb"})
    assert isinstance(result.content, list)
    text = result.content[0]["text"]
    assert "[image/png output: image 1, shown after the cells]" in text
    assert result.content[1:] == [
        {"type": "text", "text": f"Image 1 (output of cell {ids[3]}):"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
    ]
    assert f'<cell id="{ids[0]}" type="markdown">\n# Analysis\n</cell>' in text
    assert (f'<cell id="{ids[1]}" type="code" language="python" execution_count="1">\n'
            'print(\'hi\')\n<output>\nhi\n</output>') in text
    assert "ZeroDivisionError: division by zero" in text and "\x1b" not in text
    one = text_of(await call("NotebookRead", {"notebook_path": "a.ipynb", "cell_id": ids[1]}))
    assert one.startswith(f'<cell id="{ids[1]}"') and "Analysis" not in one


async def test_read_tool_renders_notebooks_too(ws: Path, call) -> None:
    make_notebook(ws / "a.ipynb")
    result = await call("Read", {"file_path": "a.ipynb"})
    assert "# Analysis" in result.content[0]["text"]


async def test_notebook_edit_replace_insert_delete_keeps_it_valid(ws: Path, call) -> None:
    path = ws / "a.ipynb"
    ids = make_notebook(path)
    unread = await call("NotebookEdit", {"notebook_path": "a.ipynb", "cell_id": ids[1], "new_source": "print(1)"})
    assert unread.is_error
    await call("NotebookRead", {"notebook_path": "a.ipynb"})
    replaced = await call("NotebookEdit", {"notebook_path": "a.ipynb", "cell_id": ids[1], "new_source": "print('bye')"})
    assert not replaced.is_error, replaced.content
    inserted = await call("NotebookEdit", {"notebook_path": "a.ipynb", "cell_id": ids[0], "new_source": "## Setup",
                                          "cell_type": "markdown", "edit_mode": "insert"})
    assert not inserted.is_error, inserted.content
    deleted = await call("NotebookEdit", {"notebook_path": "a.ipynb", "cell_id": ids[2], "new_source": "",
                                         "edit_mode": "delete"})
    assert not deleted.is_error
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    assert [c.source for c in nb.cells] == ["# Analysis", "## Setup", "print('bye')", "x"]
    assert nb.cells[2].outputs == [] and nb.cells[2].execution_count is None
    assert json.loads(path.read_text())["nbformat"] == 4


async def test_notebook_edit_change_type_and_errors(ws: Path, call) -> None:
    path = ws / "a.ipynb"
    ids = make_notebook(path)
    await call("NotebookRead", {"notebook_path": "a.ipynb"})
    changed = await call("NotebookEdit", {"notebook_path": "a.ipynb", "cell_id": ids[3], "new_source": "Now *text*",
                                         "cell_type": "markdown"})
    assert not changed.is_error
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    assert nb.cells[3].cell_type == "markdown" and nb.cells[3].id == ids[3] and "outputs" not in nb.cells[3]
    missing = await call("NotebookEdit", {"notebook_path": "a.ipynb", "cell_id": "nope", "new_source": "x"})
    assert missing.is_error and "no cell with id" in text_of(missing)
    no_type = await call("NotebookEdit", {"notebook_path": "a.ipynb", "new_source": "x", "edit_mode": "insert"})
    assert no_type.is_error and "cell_type" in text_of(no_type)
    bad_mode = await call("NotebookEdit", {"notebook_path": "a.ipynb", "new_source": "x", "edit_mode": "append"})
    assert bad_mode.is_error and "edit_mode" in text_of(bad_mode)


async def test_notebook_not_json_is_an_error(ws: Path, call) -> None:
    (ws / "bad.ipynb").write_text("not json")
    result = await call("NotebookRead", {"notebook_path": "bad.ipynb"})
    assert result.is_error and "not a valid Jupyter notebook" in text_of(result)
