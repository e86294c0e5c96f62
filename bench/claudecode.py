"""A Claude Code session for the trace-store bench: Claude Code's own tools and prompt, a generated history.

Every request carries the same 24 tool definitions (~64 KB) and ~6 KB system prompt, then a
history that grows by an answer (text and a tool call, streamed as the fixtures' SSE frames
are) and a tool result each turn; the newest message carries ``cache_control`` as Claude Code
sends it. Bodies are compact JSON, as Claude Code's JSON.stringify writes them. Words are
drawn from a fixed vocabulary with a seeded generator, so runs are repeatable and the text
compresses about as well as real prose and code do.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from pathlib import Path
from typing import Any

from claude_proxy.requestlog.entry import LogEntry, new_entry_id

TOOL_NAMES = ["Task", "Bash", "Glob", "Grep", "LS", "ExitPlanMode", "Read", "Edit", "MultiEdit", "Write",
              "NotebookEdit", "WebFetch", "TodoWrite", "WebSearch", "BashOutput", "KillShell", "SlashCommand",
              "ListMcpResourcesTool", "ReadMcpResourceTool", "mcp__ide__getDiagnostics", "mcp__ide__executeCode",
              "mcp__github__search_code", "mcp__github__get_issue", "mcp__github__create_pull_request"]
_WORDS = ("the a file path tool call command output result test error line function return value when use "
          "must should never always only before after read write edit search pattern directory working "
          "repository change commit branch user model request response token cache session agent task "
          "parameter string integer boolean optional required absolute relative glob regex match content "
          "include exclude timeout background process shell quote escape json schema object array type "
          "description example important note instead prefer avoid check verify run build install import "
          "module class method variable config setting option flag argument input code python typescript "
          "go rust java test_ def self if else for while try except raise async await yield lambda").split()


def _prose(rng: random.Random, size: int) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


def tools(rng: random.Random) -> list[dict[str, Any]]:
    """24 tool definitions of ~2.6 KB each (~64 KB)."""
    out = []
    for name in TOOL_NAMES:
        out.append({"name": name, "description": _prose(rng, 2100), "input_schema": {
            "type": "object", "$schema": "http://json-schema.org/draft-07/schema#", "additionalProperties": False,
            "properties": {f"arg_{i}": {"type": "string", "description": _prose(rng, 60)} for i in range(4)},
            "required": ["arg_0"]}})
    return out


def system(rng: random.Random) -> list[dict[str, Any]]:
    """Claude Code's system prompt: a short identity block, then ~6 KB of instructions with the working directory."""
    return [{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.",
             "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": _prose(rng, 5500) + "\n<env>\nWorking directory: /home/dev/project\n"
             "Is directory a git repo: Yes\nPlatform: linux\n</env>", "cache_control": {"type": "ephemeral"}}]


def _sse(reply: dict[str, Any], words: list[str]) -> bytes:
    """The answer streamed in the fixtures' framing: message_start, a text block, a tool_use block, delta, stop."""
    start = {**reply, "content": [], "stop_reason": None, "usage": {**reply["usage"], "output_tokens": 1}}
    frames = [("message_start", {"type": "message_start", "message": start}),
              ("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}}),
              ("ping", {"type": "ping"})]
    frames += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": w + " "}}) for w in words]
    tool = reply["content"][1]
    frames += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
                   "type": "tool_use", "id": tool["id"], "name": tool["name"], "input": {}}}),
               ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {
                   "type": "input_json_delta", "partial_json": json.dumps(tool["input"])}}),
               ("content_block_stop", {"type": "content_block_stop", "index": 1}),
               ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use",
                                                                     "stop_sequence": None},
                                  "usage": {"output_tokens": reply["usage"]["output_tokens"]}}),
               ("message_stop", {"type": "message_stop"})]
    return "".join(f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
                   for kind, data in frames).encode()


def _marked(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    marked = json.loads(json.dumps(messages))
    marked[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    return marked


CAPTURED = Path(__file__).resolve().parent / "data" / "claude-code"


def captured() -> tuple[dict[str, str], dict[str, Any]] | None:
    """The first request of the captured Claude Code run (headers, body), when bench/data has it."""
    files = sorted(CAPTURED.glob("*_v1_messages.json"))
    if not files:
        return None
    head, _, body = files[0].read_bytes().partition(b"\n")
    return json.loads(head)["headers"], json.loads(body)


def session(turns: int, *, seed: int = 13, start: float | None = None,
            session_id: str | None = None) -> list[LogEntry]:
    """``turns`` exchanges of one Claude Code session, as the proxy would record them.

    The tools, system prompt, headers and metadata are Claude Code's own, from the captured run in
    bench/data/claude-code (``python -m bench.capture``); the history that grows turn by turn is
    generated. Without the captured files the shapes are generated too.
    """
    rng = random.Random(seed)
    tool_defs, system_prompt = tools(rng), system(rng)
    real = captured()
    session_id = session_id or str(uuid.UUID(int=rng.getrandbits(128)))
    start = time.time() - turns * 5 if start is None else start
    extra: dict[str, Any] = {}
    if real is not None:
        real_headers, real_body = real
        tool_defs, system_prompt = real_body["tools"], real_body["system"]
        extra = {k: v for k, v in real_body.items() if k not in ("messages", "tools", "system", "stream")}
    headers = {"accept": "application/json", "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
               "anthropic-version": "2023-06-01", "content-type": "application/json",
               "user-agent": "claude-cli/2.0.50 (external, cli)", "x-api-key": "sk-ant-api03-" + "b" * 80 + "WXYZ",
               "x-app": "cli", "x-claude-code-session-id": session_id, "x-stainless-arch": "x64",
               "x-stainless-lang": "js", "x-stainless-os": "Linux", "x-stainless-package-version": "0.60.0",
               "x-stainless-retry-count": "0", "x-stainless-runtime": "node", "x-stainless-timeout": "600"}
    if real is not None:
        headers = {**{k.lower(): v for k, v in real_headers.items() if k.lower() not in ("host", "content-length")},
                   "x-api-key": headers["x-api-key"], "x-claude-code-session-id": session_id}
    messages: list[dict[str, Any]] = [{"role": "user", "content": [
        {"type": "text", "text": "<system-reminder>\n" + _prose(rng, 600) + "\n</system-reminder>"},
        {"type": "text", "text": "Find why the parser drops the last header and fix it, with a test."}]}]
    entries = []
    for turn in range(turns):
        body = {"model": "claude-sonnet-4-5-20250929", "messages": _marked(messages), "temperature": 1,
                "system": system_prompt, "tools": tool_defs, "metadata": {"user_id": "user_" + "a" * 64},
                "max_tokens": 32000, **extra, "stream": True}
        request = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        words = _prose(rng, 300).split()
        tool_id = f"toolu_{rng.getrandbits(64):016x}"
        tool_name = rng.choice(["Read", "Grep", "Edit", "Bash"])
        reply = {"id": f"msg_{rng.getrandbits(64):016x}", "type": "message", "role": "assistant",
                 "model": "claude-sonnet-4-5-20250929", "stop_sequence": None, "stop_reason": "tool_use",
                 "content": [{"type": "text", "text": " ".join(words) + " "},
                             {"type": "tool_use", "id": tool_id, "name": tool_name,
                              "input": {"arg_0": f"src/parser/module_{turn}.py", "arg_1": _prose(rng, 80)}}],
                 "usage": {"input_tokens": 4, "output_tokens": 120 + turn,
                           "cache_read_input_tokens": 18000 + 400 * turn, "cache_creation_input_tokens": 400,
                           "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 0}}}
        response = _sse(reply, words)
        entries.append(LogEntry(
            id=new_entry_id(), started_at=start + turn * 5, method="POST", path="/v1/messages?beta=true",
            duration_ms=2500.0 + turn, ttfb_ms=800.0, status=200, stream=True, request_headers=headers,
            response_headers={"content-type": "text/event-stream; charset=utf-8", "request-id": f"req_{turn:024d}",
                              "anthropic-ratelimit-unified-5h-utilization": f"{turn / 200:.3f}",
                              "anthropic-ratelimit-unified-status": "allowed", "cf-ray": f"{turn:016x}-SJC"},
            request_body=request, response_body=response))
        messages = messages + [{"role": "assistant", "content": reply["content"]},
                               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id,
                                                             "content": _prose(rng, 1200)}]}]
    return entries
