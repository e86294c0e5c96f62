"""TodoWrite and TodoRead: the model's task list, kept per session in `ToolSession.todos`."""

from __future__ import annotations

from typing import Any

from claude_proxy.tools.base import Tool, ToolContext, ToolResult

MARKS = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}


def render_todos(todos: list[dict[str, Any]]) -> str:
    """The list as the model and the user see it: one line per task with its state."""
    if not todos:
        return "The todo list is empty."
    lines = []
    for number, todo in enumerate(todos, start=1):
        text = todo["activeForm"] if todo["status"] == "in_progress" else todo["content"]
        lines.append(f"{number}. {MARKS[todo['status']]} {text}")
    return "\n".join(lines)


class TodoWriteTool(Tool):
    name = "TodoWrite"
    aliases = ("todo_write", "write_todos")
    key_argument = None
    description = (
        "Creates and updates the task list for this session; each call replaces the whole list. "
        "Use it for work with three or more steps, or when the user gives several tasks: add the "
        "tasks, mark one in_progress before starting it (at most one at a time), and mark it "
        "completed as soon as it is done. content is the imperative form (\"Run the tests\"), "
        "activeForm the present continuous shown while it runs (\"Running the tests\")."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "todos": {
                "type": "array",
                "description": "The updated todo list",
                "items": {
                    "type": "object",
                    "properties": {
                        "content": {"type": "string", "minLength": 1},
                        "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                        "activeForm": {"type": "string", "minLength": 1},
                    },
                    "required": ["content", "status", "activeForm"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["todos"],
        "additionalProperties": False,
    }

    async def run(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        todos = [dict(t) for t in tool_input["todos"]]
        running = [t["content"] for t in todos if t["status"] == "in_progress"]
        if len(running) > 1:
            return ToolResult.error(
                f"{len(running)} tasks are in_progress ({'; '.join(running)}); at most one may be. "
                "The list was not changed."
            )
        context.session.todos = todos
        return ToolResult("Todos have been updated. Keep using the list to track progress.\n\n" + render_todos(todos))

    def summary(self, tool_input: dict[str, Any]) -> str:
        return f"TodoWrite({len(tool_input.get('todos') or [])} tasks)"


class TodoReadTool(Tool):
    name = "TodoRead"
    aliases = ("todo_read", "read_todos")
    read_only = True
    description = "Shows the current task list of this session with each task's status."
    input_schema = {"type": "object", "properties": {}, "additionalProperties": False}

    async def run(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        return ToolResult(render_todos(context.session.todos))
