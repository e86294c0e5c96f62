"""Run a real ``claude-proxy serve`` subprocess and wait until it answers ``/health``."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

LISTENING = re.compile(rb"listening on (http://\S+)")
READY = b"export ANTHROPIC_BASE_URL="


@dataclass
class ServeProcess:
    """A ``claude-proxy serve --port 0`` child; ``url`` is read from its start-up line.

    ``new_session=True`` starts it as the leader of its own process group, so a test can
    signal the whole group as a terminal's Ctrl-C does (``stop(sig, group=True)``).
    """

    args: list[str]
    env: dict[str, str]
    cwd: Path | None = None
    new_session: bool = False
    proc: asyncio.subprocess.Process | None = None
    url: str = ""
    stdout: bytes = b""
    stderr: bytes = b""
    lines: list[bytes] = field(default_factory=list)
    _stderr_task: "asyncio.Task[bytes] | None" = None
    _err: bytearray = field(default_factory=bytearray)

    async def start(self, timeout: float = 30.0) -> "ServeProcess":
        cmd = [sys.executable, "-m", "claude_proxy", "serve", "--port", "0", *self.args]
        self.proc = await asyncio.create_subprocess_exec(
            *cmd, env=self.env, cwd=self.cwd, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=self.new_session)
        assert self.proc.stderr is not None
        # read all along: an access line per request would otherwise fill the pipe and stall the proxy
        self._stderr_task = asyncio.ensure_future(self._collect_stderr())
        await asyncio.wait_for(self._read_url(), timeout)
        await asyncio.wait_for(self._wait_healthy(), timeout)
        return self

    async def _collect_stderr(self) -> bytes:
        assert self.proc is not None and self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(65536):
            self._err += chunk
        return bytes(self._err)

    def stderr_so_far(self) -> bytes:
        """What the process has written to stderr until now (it is still running)."""
        return bytes(self._err)

    async def _read_url(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                err = await self._stderr_task if self._stderr_task is not None else b""
                raise RuntimeError(f"claude-proxy serve exited before listening: {err.decode(errors='replace')}")
            self.lines.append(line)
            match = LISTENING.search(line)
            if match:
                self.url = match.group(1).decode()
            if line.startswith(READY) and self.url:
                return

    async def _wait_healthy(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(self.url + "/health") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0, group: bool = False) -> int:
        """Send ``sig`` (to its whole process group with ``group``) and wait; returns the exit
        code and keeps the remaining output."""
        assert self.proc is not None
        if self.proc.returncode is None:
            if group:
                assert self.new_session, "only a process started with new_session leads its own group"
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        assert self.proc.stdout is not None and self._stderr_task is not None
        out = await asyncio.wait_for(self.proc.stdout.read(), timeout)
        await asyncio.wait_for(self.proc.wait(), timeout)
        self.stdout = b"".join(self.lines) + out
        self.stderr = await self._stderr_task
        return self.proc.returncode  # type: ignore[return-value]

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
