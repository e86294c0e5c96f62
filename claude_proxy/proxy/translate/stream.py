"""Chat-completions stream -> Anthropic stream, incrementally, in any byte split.

Anthropic clients need one block open at a time, indices 0, 1, 2 in order, and for each
tool one ``tool_use`` block whose ``input_json_delta`` fragments concatenate to the
input. Providers do not promise that order: text and tool calls interleave, parallel
calls may interleave their arguments, arguments come whole or in pieces. So a delta
for the open block streams at once; a delta for another block waits in a queue until
the open block may close (text and thinking always may; a tool call once its
arguments parse as JSON), and the queue flushes in order of first appearance. A tool
call whose name has not arrived yet waits too: its block starts once the name is known.

An in-band provider error (an ``error`` object, or ``finish_reason: "error"``) ends the
stream with one ``event: error``. Stop sequences the backend could not take are watched
for here (`StopScanner`): at a match the text is cut and the message ends.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from claude_proxy.proxy.translate import jsonio
from claude_proxy.proxy.translate.blocks import Block
from claude_proxy.proxy.translate.errors import error_type, in_band_error, in_band_message, in_band_status
from claude_proxy.proxy.translate.names import ToolNames
from claude_proxy.proxy.translate.response import client_tool_id, new_message_id, reasoning_text, stop_reason, usage
from claude_proxy.proxy.translate.sse import SSEParser, encode_event
from claude_proxy.proxy.translate.stops import StopScanner
from claude_proxy.proxy.translate.tokens import text_tokens

log = logging.getLogger(__name__)


class StreamTranslator:
    """Feed upstream bytes, get Anthropic SSE bytes; ``finish()`` at upstream end of stream."""

    def __init__(self, model: str, *, message_id: str | None = None, input_estimate: int = 0,
                 names: ToolNames | None = None, stop_sequences: Sequence[str] = ()) -> None:
        self.model = model
        self.message_id = message_id or new_message_id()
        self.input_estimate = input_estimate
        self.started = False
        self.received = False  # any chunk parsed from upstream
        self.done = False
        self.failed: str | None = None
        self.error_status: int | None = None  # set when the stream failed before anything was emitted
        self.provider_error: dict[str, Any] | None = None  # the provider's in-band error object, as sent
        self.stop_sequence: str | None = None  # set when the proxy ended the answer at a stop sequence
        self._names = names or ToolNames()
        self._stops = StopScanner(stop_sequences)
        self._parser = SSEParser()
        self._open: Block | None = None
        self._queue: list[Block] = []
        self._tools: dict[int, Block] = {}
        self._by_index: dict[Any, int] = {}
        self._by_id: dict[str, int] = {}
        self._text: Block | None = None
        self._thinking: Block | None = None
        self._next_index = 0
        self._finish_reason: str | None = None
        self._usage: dict[str, int] | None = None
        self._has_tools = False
        self._output_chars: list[str] = []
        self._last_tool_key: int | None = None

    # public API ---------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """Anthropic bytes produced by one chunk of upstream bytes (often ``b""``)."""
        if self.done:
            return b""
        out: list[bytes] = []
        for event in self._parser.feed(data):
            self._event(event.data, out)
            if self._ended():
                break
        return b"".join(out)

    def _ended(self) -> bool:
        """``done``, read after a call that may set it (a plain attribute test stays narrowed)."""
        return self.done

    def start(self) -> bytes:
        """``message_start`` now if it has not gone out (a keep-alive ping must not come first)."""
        out: list[bytes] = []
        self._start({}, out)
        return b"".join(out)

    def finish(self) -> bytes:
        """Close everything at upstream end of stream, whether or not ``[DONE]`` came."""
        if self.done:
            return b""
        out: list[bytes] = []
        for event in self._parser.close():
            self._event(event.data, out)
            if self._ended():
                return b"".join(out)
        self._end(out)
        return b"".join(out)

    def fail(self, message: str, error_type: str = "api_error") -> bytes:
        """The one ``error`` frame that ends a stream that broke after it started."""
        if self.done:
            return b""
        self.done = True
        self.failed = message
        return encode_event({"type": "error", "error": {"type": error_type, "message": message}})

    # upstream events ---------------------------------------------------------------

    def _event(self, data: str, out: list[bytes]) -> None:
        data = data.strip()
        if not data:
            return
        if data == "[DONE]":
            self._end(out)
            return
        try:
            chunk = jsonio.loads(data)
        except ValueError:
            self._glued(data, out)
            return
        self._chunk(chunk, out)

    def _glued(self, data: str, out: list[bytes]) -> None:
        """Providers that forget blank lines glue several JSON objects (or [DONE]) into one event."""
        lines = [line.strip() for line in data.split("\n") if line.strip()]
        try:
            chunks = [jsonio.loads(line) for line in lines if line != "[DONE]"]
        except ValueError:
            log.warning("skipping an upstream SSE event that is not JSON: %.200r", data)
            return
        for chunk in chunks:
            self._chunk(chunk, out)
        if "[DONE]" in lines:
            self._end(out)

    def _chunk(self, chunk: Any, out: list[bytes]) -> None:
        if self.done or not isinstance(chunk, dict):
            return
        self.received = True
        error = in_band_error(chunk)
        if error is not None and not self.started:
            # Nothing sent yet: the caller can still answer with an HTTP error status.
            self.done = True
            self.provider_error = error
            self.failed = f"upstream error: {in_band_message(error)}"
            self.error_status = in_band_status(error)
            return
        self._start(chunk, out)
        raw_usage = chunk.get("usage") or _dict_get(chunk.get("x_groq"), "usage")  # Groq nests it
        if isinstance(raw_usage, dict):
            self._usage = usage(raw_usage)
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._delta(delta, out)
            if isinstance(choice.get("finish_reason"), str):
                self._finish_reason = choice["finish_reason"]
        if error is not None:  # after the text that came with it
            self._release(out)
            self.provider_error = error
            out.append(self.fail(f"upstream error: {in_band_message(error)}", error_type(in_band_status(error))))

    def _delta(self, delta: dict[str, Any], out: list[bytes]) -> None:
        if self.done:
            return
        thinking = reasoning_text(delta)
        if thinking:
            self._release(out)
            self._thinking = self._add(self._thinking, "thinking", thinking, out)
        text = delta.get("content")
        if isinstance(text, list):
            text = "".join(p["text"] for p in text if isinstance(p, dict) and isinstance(p.get("text"), str))
        refusal = delta.get("refusal")
        text = (text if isinstance(text, str) else "") + (refusal if isinstance(refusal, str) else "")
        if text and self._stops.active:
            text, matched = self._stops.feed(text)
            if text:
                self._text = self._add(self._text, "text", text, out)
            if matched is not None:
                self.stop_sequence = matched
                self._end(out)
                return
        elif text:
            self._text = self._add(self._text, "text", text, out)
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else []:
            if isinstance(call, dict):
                self._release(out)
                self._tool_call(call, out)

    def _release(self, out: list[bytes]) -> None:
        """Text held back for a possible stop sequence goes out: something else came first."""
        held = self._stops.release()
        if held:
            self._text = self._add(self._text, "text", held, out)

    def _start(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        if self.started:
            return
        self.started = True
        if chunk.get("model"):
            self.model = chunk["model"]
        out.append(encode_event({
            "type": "message_start",
            "message": {
                "id": self.message_id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": self.input_estimate, "output_tokens": 0},
            },
        }))

    # blocks --------------------------------------------------------------------------

    def _add(self, block: Block | None, kind: str, text: str, out: list[bytes]) -> Block:
        """Route text or thinking to its current block, starting a new one if that closed."""
        if block is None or block.closed:
            block = Block(kind)
        self._output_chars.append(text)
        self._deliver(block, text, out)
        return block

    def _tool_call(self, call: dict[str, Any], out: list[bytes]) -> None:
        given = call.get("function")
        function: dict[str, Any] = given if isinstance(given, dict) else {}
        if not isinstance(call.get("id"), str):
            call = {k: v for k, v in call.items() if k != "id"}
        key = self._tool_key(call)
        block = self._tools.get(key)
        given_name = function.get("name")
        name = given_name if isinstance(given_name, str) else ""
        if block is None:
            block = Block("tool_use", tool_id=client_tool_id(call.get("id")), name=name)
            self._tools[key] = block
            self._has_tools = True
            if call.get("index") is not None:
                self._by_index[call["index"]] = key
            if call.get("id"):
                self._by_id[call["id"]] = key
        elif name and not block.name:
            block.name = name
        self._last_tool_key = key
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            arguments = jsonio.dumps_text(arguments)
        arguments = arguments if isinstance(arguments, str) else ""
        if block.closed:
            if arguments.strip():
                log.warning("dropping arguments for tool call %s that arrived after its block closed", block.tool_id)
            return
        block.arguments += arguments
        self._output_chars.append(arguments)
        self._deliver(block, arguments, out)

    def _tool_key(self, call: dict[str, Any]) -> int:
        """Which tool call a delta continues, or a fresh key for a new call.

        By id when the provider repeats it; else by index, unless a new id and name
        reuse an index (providers that number every call 0); with neither, the last call.
        """
        call_id = call.get("id")
        if call_id and call_id in self._by_id:
            return self._by_id[call_id]
        function = call.get("function")
        named = isinstance(function, dict) and bool(function.get("name"))
        index = call.get("index")
        if index is not None:
            key = self._by_index.get(index)
            if key is not None and not (call_id and named):
                return key
        elif not call_id and not named and self._last_tool_key is not None:
            return self._last_tool_key
        return len(self._tools)

    def _deliver(self, block: Block, delta: str, out: list[bytes]) -> None:
        if block is self._open:
            if delta:
                out.append(self._delta_event(block, delta))
            return
        if self._open is not None and not self._open.complete():
            if block not in self._queue:
                self._queue.append(block)
            if delta:
                block.pending.append(delta)
            return
        if delta:
            block.pending.append(delta)
        if block not in self._queue:
            self._queue.append(block)
        self._flush(out, until=block)

    def _flush(self, out: list[bytes], until: Block | None = None) -> None:
        """Close the open block and open queued ones in order, stopping at an incomplete tool
        or a nameless one (at the end, ``until`` None, everything goes)."""
        while self._queue:
            if self._open is not None:
                if not self._open.complete() and until is not None:
                    return
                self._close(self._open, out)
            if until is not None and not self._queue[0].ready():
                return
            block = self._queue.pop(0)
            self._open_block(block, out)
            if block is until:
                return

    def _open_block(self, block: Block, out: list[bytes]) -> None:
        block.index = self._next_index
        self._next_index += 1
        block.sent = True
        self._open = block
        if block.kind == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}
        elif block.kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
        else:
            if not block.name:
                log.warning("tool call %s ended without a name", block.tool_id)
            start = {"type": "tool_use", "id": block.tool_id, "name": self._names.original(block.name), "input": {}}
        out.append(encode_event({"type": "content_block_start", "index": block.index, "content_block": start}))
        if block.pending:
            joined = "".join(block.pending)
            block.pending.clear()
            out.append(self._delta_event(block, joined))

    def _close(self, block: Block, out: list[bytes]) -> None:
        block.closed = True
        self._open = None
        out.append(encode_event({"type": "content_block_stop", "index": block.index}))

    @staticmethod
    def _delta_event(block: Block, delta: str) -> bytes:
        if block.kind == "text":
            body: dict[str, Any] = {"type": "text_delta", "text": delta}
        elif block.kind == "thinking":
            body = {"type": "thinking_delta", "thinking": delta}
        else:
            body = {"type": "input_json_delta", "partial_json": delta}
        return encode_event({"type": "content_block_delta", "index": block.index, "delta": body})

    # the end -------------------------------------------------------------------------

    def _end(self, out: list[bytes]) -> None:
        if self.done:
            return
        if not self.started:
            self._start({}, out)
        self._release(out)
        self._flush(out)
        if self._open is not None:
            self._close(self._open, out)
        self.done = True
        mapped = self._usage or {
            "input_tokens": self.input_estimate,
            "output_tokens": text_tokens("".join(self._output_chars)),
        }
        out.append(encode_event({
            "type": "message_delta",
            "delta": {"stop_reason": "stop_sequence" if self.stop_sequence else stop_reason(
                self._finish_reason, self._has_tools), "stop_sequence": self.stop_sequence},
            "usage": mapped,
        }))
        out.append(encode_event({"type": "message_stop"}))


def _dict_get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None
