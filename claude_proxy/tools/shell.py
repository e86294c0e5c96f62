"""Bash: one shell command in the workspace, in its own process group, inside the sandbox.

The command gets no stdin and the environment the sandbox builds from an allow-list
(``guard.sandbox.environment``); its stdout and stderr are read as one stream, and its
whole process group is killed when it times out, when its task is cancelled (the
chat loop's Ctrl-C), or when the shell exits leaving background children behind.
Sandboxed, that process group is bubblewrap's, and killing bubblewrap ends the
command's PID namespace, so nothing it started outlives the call.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
import shutil
import signal
from typing import Any

from claude_proxy.tools.base import Tool, ToolContext, ToolResult
from claude_proxy.tools.guard import SandboxCommand, SandboxUnavailable, prepare_command

log = logging.getLogger(__name__)

MAX_TIMEOUT_MS = 600_000
KILL_GRACE = 2.0
DRAIN_AFTER_EXIT = 2.0
CHUNK = 65536


class OutputBuffer:
    """Keeps the head and the tail of a stream within a character budget; counts what is cut."""

    def __init__(self, limit: int) -> None:
        self.head_limit = limit * 2 // 3
        self.tail_limit = limit - self.head_limit
        self.head: list[str] = []
        self.head_len = 0
        self.tail = ""
        self.total = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def feed(self, data: bytes, final: bool = False) -> None:
        text = self._decoder.decode(data, final)
        if not text:
            return
        self.total += len(text)
        room = self.head_limit - self.head_len
        if room > 0:
            self.head.append(text[:room])
            self.head_len += min(room, len(text))
            text = text[room:]
        if text:
            self.tail = (self.tail + text)[-self.tail_limit:]

    def render(self) -> str:
        head = "".join(self.head)
        cut = self.total - len(head) - len(self.tail)
        if cut <= 0:
            return head + self.tail
        return f"{head}\n\n[... {cut} characters cut from the middle of {self.total} ...]\n\n{self.tail}"


def kill_group(proc: asyncio.subprocess.Process, sig: int = signal.SIGKILL) -> None:
    """Signal the process group of ``proc`` (it leads its own session)."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _shell() -> str:
    return shutil.which("bash") or "/bin/sh"


class BashTool(Tool):
    name = "Bash"
    aliases = ("bash", "shell", "run_shell_command")
    key_argument = "command"
    description = (
        "Runs a bash command in the working directory and returns its output (stdout and stderr "
        "together).\n"
        "- Each call starts in the working directory, in a fresh shell; use absolute paths or `cd dir && ...`.\n"
        "- timeout is in milliseconds, at most 600000 (10 minutes); the default is 120000. On timeout "
        "the command and everything it started are killed.\n"
        "- Output over 30000 characters is cut in the middle; a non-zero exit appends `Exit code N`.\n"
        "- The command has no input: interactive programs and prompts will not work.\n"
        "- Background processes started with & end when the command ends.\n"
        "- Do not use Bash to read, search or edit files: use Read, Grep, Glob, Edit and Write.\n"
        "- Quote paths that contain spaces. Chain dependent commands with &&.\n"
        "- Give a short description (5-10 words) of what the command does."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "The command to execute"},
            "timeout": {
                "type": "number", "minimum": 1, "maximum": MAX_TIMEOUT_MS,
                "description": "Optional timeout in milliseconds (max 600000)",
            },
            "description": {"type": "string",
                            "description": "Clear, concise description of what this command does in 5-10 words"},
        },
        "required": ["command"],
        "additionalProperties": False,
    }

    async def run(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        settings = context.settings.tools.bash
        timeout_ms = tool_input.get("timeout")
        timeout = min(timeout_ms / 1000, MAX_TIMEOUT_MS / 1000) if timeout_ms else settings.default_timeout
        try:
            command = await asyncio.to_thread(prepare_command, [_shell(), "-c", tool_input["command"]], context)
        except SandboxUnavailable as exc:
            return ToolResult.error(f"the command was not run: {exc}")
        try:
            return await self._run(command, context, settings.max_output_chars, timeout)
        finally:
            await asyncio.shield(asyncio.to_thread(command.close))

    async def _run(self, command: SandboxCommand, context: ToolContext, limit: int, timeout: float) -> ToolResult:
        try:
            proc = await asyncio.create_subprocess_exec(
                *command.argv, cwd=context.cwd, env=command.env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )
        except OSError as exc:
            return ToolResult.error(f"cannot start the shell: {exc.strerror or exc}")
        output = OutputBuffer(limit)
        reader = asyncio.create_task(self._pump(proc, output))
        timed_out = False
        try:
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except asyncio.TimeoutError:
                timed_out = True
                log.info("Bash command timed out after %g s; killing its process group %d", timeout, proc.pid)
                kill_group(proc, signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), KILL_GRACE)
                except asyncio.TimeoutError:
                    pass
            kill_group(proc)
            try:
                await asyncio.wait_for(asyncio.shield(reader), DRAIN_AFTER_EXIT)
            except asyncio.TimeoutError:
                reader.cancel()
        finally:
            if proc.returncode is None or not reader.done():
                kill_group(proc)
                reader.cancel()
                if proc.returncode is None:
                    await asyncio.shield(proc.wait())
        output.feed(b"", final=True)
        return self._result(output.render(), proc.returncode, timed_out, timeout)

    @staticmethod
    async def _pump(proc: asyncio.subprocess.Process, output: OutputBuffer) -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(CHUNK):
            output.feed(chunk)

    @staticmethod
    def _result(text: str, code: int | None, timed_out: bool, timeout: float) -> ToolResult:
        text = text.rstrip("\n")
        if timed_out:
            note = f"Command timed out after {timeout:g} s and was killed"
            return ToolResult.error(f"{text}\n{note}" if text else note)
        if code == 0:
            return ToolResult(text or "(no output)")
        if code is not None and code < 0:
            try:
                reason = f"Killed by signal {signal.Signals(-code).name}"
            except ValueError:
                reason = f"Killed by signal {-code}"
        else:
            reason = f"Exit code {code}"
            if code is not None and code > 128:
                try:
                    reason += f" (killed by signal {signal.Signals(code - 128).name})"
                except ValueError:
                    pass
        return ToolResult.error(f"{text}\n{reason}" if text else reason)
