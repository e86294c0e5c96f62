"""A Claude-Code-shaped session for the viewer's tests: tool calls, edits, a subagent, through a real proxy.

`script()` queues the upstream's answers on a `FakeAnthropic`; `run_session()` plays the
client, as Claude Code does: one session header, the same system prompt and tools every
turn, the history growing by the answer and the tool results. Answers are streamed.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic

from tests.support.fake_anthropic import FakeAnthropic, Reply

SESSION = "3f1c2a9e-5b7d-4e21-9a0c-viewer000001"
SYSTEM = [{"type": "text", "text": "You are an interactive CLI coding agent.\n\nWorking directory: /home/dev/greeter\n"
                                   "Follow the project's conventions.",
           "cache_control": {"type": "ephemeral"}}]
TOOLS: list[dict[str, Any]] = [
    {"name": "Edit", "description": "Replace text in a file.",
     "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"},
                                                       "old_string": {"type": "string"},
                                                       "new_string": {"type": "string"}}}},
    {"name": "Bash", "description": "Run a shell command.",
     "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}},
    {"name": "Task", "description": "Start a subagent.",
     "input_schema": {"type": "object", "properties": {"prompt": {"type": "string"}}}},
]
PROMPT = "Fix the greeting in hello.py and check it runs"
SUBAGENT_PROMPT = "Search the repository for other misspelled greetings"
USAGE = {"input_tokens": 40, "output_tokens": 25, "cache_read_input_tokens": 1800,
         "cache_creation_input_tokens": 200}

ANSWERS: list[list[dict[str, Any]]] = [
    [{"type": "thinking", "thinking": "The file prints helo; an Edit fixes it.", "signature": "sig-1"},
     {"type": "text", "text": "I'll fix the typo in `hello.py`."},
     {"type": "tool_use", "id": "toolu_edit_01", "name": "Edit",
      "input": {"file_path": "/home/dev/greeter/hello.py", "old_string": "print('helo')",
                "new_string": "print('hello')"}}],
    [{"type": "tool_use", "id": "toolu_task_01", "name": "Task", "input": {"prompt": SUBAGENT_PROMPT}}],
    [{"type": "text", "text": "Only `hello.py` had the typo."}],  # the subagent's answer
    [{"type": "tool_use", "id": "toolu_bash_01", "name": "Bash", "input": {"command": "python hello.py"}}],
    [{"type": "text", "text": "Done. The **greeting** is fixed:\n\n```python\nprint('hello')\n```"}],
]
RESULTS = {"toolu_edit_01": "The file /home/dev/greeter/hello.py has been updated.",
           "toolu_task_01": "Only hello.py had the typo.", "toolu_bash_01": "hello"}


def sse(message: dict[str, Any]) -> list[bytes]:
    """A message as the API streams it: one event per write."""
    def event(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    start = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 1}}
    out = [event("message_start", {"type": "message_start", "message": start})]
    for i, block in enumerate(message["content"]):
        if block["type"] == "text":
            out.append(event("content_block_start", {"type": "content_block_start", "index": i,
                                                     "content_block": {"type": "text", "text": ""}}))
            out.append(event("content_block_delta", {"type": "content_block_delta", "index": i,
                                                     "delta": {"type": "text_delta", "text": block["text"]}}))
        elif block["type"] == "thinking":
            out.append(event("content_block_start", {"type": "content_block_start", "index": i,
                                                     "content_block": {"type": "thinking", "thinking": ""}}))
            out.append(event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {
                "type": "thinking_delta", "thinking": block["thinking"]}}))
            out.append(event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {
                "type": "signature_delta", "signature": block["signature"]}}))
        else:
            out.append(event("content_block_start", {"type": "content_block_start", "index": i, "content_block": {
                "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}))
            out.append(event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {
                "type": "input_json_delta", "partial_json": json.dumps(block["input"])}}))
        out.append(event("content_block_stop", {"type": "content_block_stop", "index": i}))
    out.append(event("message_delta", {"type": "message_delta", "delta": {
        "stop_reason": message["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": message["usage"]["output_tokens"]}}))
    out.append(event("message_stop", {"type": "message_stop"}))
    return out


def script(fake: FakeAnthropic, model: str = "claude-sonnet-4-5") -> None:
    """Queue the five streamed answers of the session on ``fake``."""
    for n, content in enumerate(ANSWERS):
        stop = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
        message = {"id": f"msg_viewer_{n:02d}", "type": "message", "role": "assistant", "model": model,
                   "content": content, "stop_reason": stop, "stop_sequence": None, "usage": dict(USAGE)}
        fake.enqueue(Reply.sse(sse(message)))


def _turn(client: anthropic.Anthropic, messages: list[dict[str, Any]], model: str) -> dict[str, Any]:
    with client.messages.stream(model=model, max_tokens=1024, system=SYSTEM, tools=TOOLS,  # type: ignore[arg-type]
                                messages=messages) as stream:  # type: ignore[arg-type]
        final = stream.get_final_message()
    return final.model_dump(exclude_none=True)


def run_session(base_url: str, model: str = "claude-sonnet-4-5", key: str = "sk-ant-viewer-test-0001") -> None:
    """Play the session through the proxy at ``base_url`` (answers queued by `script`)."""
    client = anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0,
                                 default_headers={"x-claude-code-session-id": SESSION})
    messages: list[dict[str, Any]] = [{"role": "user", "content": PROMPT}]
    for _ in range(4):
        answer = _turn(client, messages, model)
        messages.append({"role": "assistant", "content": answer["content"]})
        calls = [b for b in answer["content"] if b["type"] == "tool_use"]
        if not calls:
            return
        if calls[0]["name"] == "Task":  # the subagent: its own conversation, same session header
            _turn(client, [{"role": "user", "content": SUBAGENT_PROMPT}], model)
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": c["id"], "content": RESULTS[c["id"]]} for c in calls]})
    raise AssertionError("the session did not end after 4 turns")
