"""The MCP client side: one supervised connection per server, and its tools as ours.

`McpServer` runs one server for a session in a task of its own (the SDK's task groups
must be entered and left by one task): connect and list the tools within
``mcp.startup_timeout``, then watch it (a call that finds the connection closed, or a
failed probe every ``mcp.health_interval`` seconds, means it crashed) and restart it
with doubling backoff, at most ``mcp.max_restarts`` times in a row (a server that
stayed up for a minute starts a fresh count). `McpTools` starts
every server of a session at once and stops them all with it; every wait is bounded.
`McpTool` is one server tool as a `Tool` named ``mcp__server__tool``: the chat loop's
guard judges it like any other tool, and its result is cut to our output limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from claude_proxy import __version__
from claude_proxy.mcp.config import ServerSpec
from claude_proxy.mcp.content import from_mcp
from claude_proxy.settings import McpSettings, Settings, user_data_dir
from claude_proxy.tools.base import Tool, ToolContext, ToolResult

log = logging.getLogger(__name__)

Status = Literal["starting", "connected", "restarting", "failed", "stopped"]
NAME_LIMIT = 64
PROBE_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
STABLE_AFTER = 60.0  # seconds connected after which a crash starts a fresh count of restarts
MAX_PAGES = 20


def tool_name(server: str, tool: str) -> str:
    """The name the model sees: ``mcp__server__tool``, characters the API refuses replaced by ``_``."""
    return "mcp__" + server + "__" + re.sub(r"[^A-Za-z0-9_-]", "_", tool)


class McpUnavailable(Exception):
    """The server cannot take a call now (starting, restarting, failed or stopped)."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _describe(exc.exceptions[0])
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if isinstance(exc, OSError) else text


@dataclass
class Listing:
    """The tools a server offered at its last connection."""

    tools: list[types.Tool]


class McpServer:
    """One server for one session: started, watched, restarted with backoff, stopped."""

    def __init__(self, spec: ServerSpec, settings: McpSettings, cwd: Path, log_dir: Path) -> None:
        self.spec = spec
        self.settings = settings
        self.cwd = cwd
        self.log_path = log_dir / f"{spec.name}.log"
        self.status: Status = "starting"
        self.error: str | None = None
        self.restarts = 0
        self._in_a_row = 0
        self._connected_at: float | None = None
        self.listing = Listing([])
        self._client: Client | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._errlog: TextIO | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def start(self) -> None:
        """Begin connecting in the background; `wait_ready` waits for the first outcome."""
        self._task = asyncio.create_task(self._supervise(), name=f"mcp-{self.name}")

    async def wait_ready(self, timeout: float) -> None:
        """Until the server first connected or failed, at most ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)

    async def call(self, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
        """Call one tool; `McpUnavailable` when the server is down or dies during the call."""
        client = self._client
        if client is None or self.status != "connected":
            reason = f": {self.error}" if self.error else ""
            raise McpUnavailable(f"the MCP server {self.name} is {self.status}{reason}")
        limit = self.settings.call_timeout
        try:
            async with asyncio.timeout(limit + 5):
                return await client.call_tool(tool, arguments, read_timeout_seconds=limit)
        except MCPError as exc:
            if exc.code == types.CONNECTION_CLOSED:
                self._lost.set()
                raise McpUnavailable(f"the MCP server {self.name} stopped during the call; it is restarted "
                                     "(try again shortly)") from None
            raise
        except TimeoutError:
            raise McpUnavailable(f"the MCP server {self.name} did not answer within {limit:g} s") from None

    async def stop(self) -> None:
        """Stop the server and its supervisor (bounded: a stuck one is cancelled)."""
        self._stop.set()
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
        self.status = "stopped"
        if self._errlog is not None:
            self._errlog.close()
            self._errlog = None

    # -- the supervisor ----------------------------------------------------

    async def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                await self._connected_session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any transport or protocol failure: restart or give up, never raise
                self.error = _describe(exc)
                log.debug("MCP server %s failed", self.name, exc_info=True)
            if self._stop.is_set():
                break
            loop_time = asyncio.get_running_loop().time()
            if self._connected_at is not None and loop_time - self._connected_at >= STABLE_AFTER:
                self._in_a_row = 0
            self._connected_at = None
            if self._in_a_row >= self.settings.max_restarts:
                self.status = "failed"
                self._ready.set()
                log.warning("MCP server %s is left stopped after %d restarts: %s", self.name, self.restarts,
                            self.error)
                return
            delay = min(self.settings.restart_backoff * 2 ** self._in_a_row, self.settings.restart_backoff_max)
            self.status = "restarting"
            self.restarts += 1
            self._in_a_row += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _connected_session(self) -> None:
        self._lost.clear()
        async with contextlib.AsyncExitStack() as stack:
            client = Client(await self._transport(stack), read_timeout_seconds=self.settings.call_timeout,
                            client_info=types.Implementation(name="claude-proxy", version=__version__))
            async with asyncio.timeout(self.settings.startup_timeout):
                await stack.enter_async_context(client)
                self.listing = Listing(await self._list_tools(client))
            self._client = client
            self.status, self.error = "connected", None
            self._connected_at = asyncio.get_running_loop().time()
            self._ready.set()
            try:
                await self._watch(client)
            finally:
                self._client = None
                if not self._stop.is_set():
                    self.status = "restarting"

    async def _transport(self, stack: contextlib.AsyncExitStack) -> Any:
        config = self.spec.config
        if config.type == "http":
            import httpx2

            http = await stack.enter_async_context(httpx2.AsyncClient(
                headers=config.headers, timeout=httpx2.Timeout(30.0, read=self.settings.call_timeout)))
            return streamable_http_client(str(config.url), http_client=http)
        if self._errlog is None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._errlog = open(self.log_path, "a", encoding="utf-8")
        params = StdioServerParameters(command=str(config.command), args=config.args, env=config.env or None,
                                       cwd=self.cwd)
        return stdio_client(params, errlog=self._errlog)

    @staticmethod
    async def _list_tools(client: Client) -> list[types.Tool]:
        tools: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await client.list_tools(cursor=cursor, cache_mode="bypass")
            tools += page.tools
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    async def _watch(self, client: Client) -> None:
        """Return when the session is stopped or the server is gone."""
        while True:
            waiters = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self._lost.wait())]
            done, pending = await asyncio.wait(waiters, timeout=self.settings.health_interval,
                                               return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
            if done:
                if self._lost.is_set():
                    self.error = "the server stopped unexpectedly"
                return
            try:
                async with asyncio.timeout(PROBE_TIMEOUT):
                    await client.list_tools(cache_mode="bypass")
            except MCPError as exc:
                if exc.code == types.CONNECTION_CLOSED:
                    self.error = "the server stopped unexpectedly"
                    return
            except TimeoutError:
                log.debug("MCP server %s is slow to answer its health probe", self.name)


class McpTool(Tool):
    """One MCP server tool as one of ours; the guard sees ``mcp__server__tool``."""

    read_only = False

    def __init__(self, server: McpServer, tool: types.Tool, output_limit: int) -> None:
        self.server = server
        self.remote_name = tool.name
        self.name = tool_name(server.name, tool.name)  # type: ignore[misc]
        self.description = (tool.description or tool.title or tool.name)  # type: ignore[misc]
        self.input_schema = tool.input_schema or {"type": "object"}  # type: ignore[misc]
        self.output_limit = output_limit

    async def run(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        try:
            result = await self.server.call(self.remote_name, tool_input)
        except McpUnavailable as exc:
            return ToolResult.error(str(exc))
        except MCPError as exc:
            return ToolResult.error(f"the MCP server {self.server.name} answered with an error: {exc.error.message}")
        return from_mcp(result, self.output_limit)


class McpTools:
    """Every MCP server of one session: started together, listed, stopped together."""

    def __init__(self, specs: list[ServerSpec], settings: Settings, cwd: Path, log_dir: Path | None = None) -> None:
        directory = log_dir or user_data_dir() / "mcp-logs"
        self.settings = settings
        self.servers = [McpServer(spec, settings.mcp, cwd, directory) for spec in specs]

    async def start(self) -> None:
        """Start every server and wait, at most ``mcp.startup_timeout``, until each connected or failed."""
        for server in self.servers:
            server.start()
        await asyncio.gather(*(s.wait_ready(self.settings.mcp.startup_timeout + 1) for s in self.servers))

    def tools(self) -> list[Tool]:
        """The connected servers' tools, as offered to the model (names the API refuses are left out)."""
        limit = self.settings.tools.bash.max_output_chars
        tools: list[Tool] = []
        for server in self.servers:
            for remote in server.listing.tools:
                tool = McpTool(server, remote, limit)
                if len(tool.name) > NAME_LIMIT:
                    log.warning("leaving out the MCP tool %s: its name is over %d characters", tool.name, NAME_LIMIT)
                    continue
                tools.append(tool)
        return tools

    async def stop(self) -> None:
        await asyncio.gather(*(server.stop() for server in self.servers))
