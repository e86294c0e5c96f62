"""The MCP client against a real stdio server written with the `mcp` SDK (tests/support/mcp_demo_server.py):
tools listed and called, errors and images, the output limit, a crash restarted, a stop that stops it."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from claude_proxy.mcp.client import McpTools
from claude_proxy.mcp.config import ServerSpec, server_specs
from claude_proxy.settings import McpServerSettings
from claude_proxy.tools.base import ToolResult
from claude_proxy.tools.registry import new_context
from tests.chat.mcp.conftest import demo_settings

pytestmark = pytest.mark.processes


def by_name(tools) -> dict:
    return {tool.name: tool for tool in tools}


async def started(settings, workdir: Path) -> McpTools:
    running = McpTools(server_specs(settings, None), settings, workdir, workdir.parent / "logs")
    await running.start()
    return running


def pid_of(result: ToolResult) -> int:
    match = re.search(r"pid (\d+)", str(result.content))
    assert match, result.content
    return int(match.group(1))


async def test_tools_are_listed_as_mcp_server_tool_and_called(workdir: Path) -> None:
    settings = demo_settings()
    running = await started(settings, workdir)
    try:
        tools = by_name(running.tools())
        assert {"mcp__demo__echo", "mcp__demo__fail", "mcp__demo__crash", "mcp__demo__big"} <= set(tools)
        assert tools["mcp__demo__echo"].input_schema["required"] == ["text"]
        context = new_context(workdir, settings)
        result = await tools["mcp__demo__echo"].run({"text": "hello"}, context)
        assert not result.is_error and str(result.content).startswith("echo: hello")
        failed = await tools["mcp__demo__fail"].run({"reason": "no such ticket"}, context)
        assert failed.is_error and "no such ticket" in str(failed.content)
        picture = await tools["mcp__demo__picture"].run({}, context)
        assert isinstance(picture.content, list)
        assert picture.content[-1]["source"]["media_type"] == "image/png"
    finally:
        await running.stop()


async def test_results_are_cut_to_the_same_output_limit_as_our_tools(workdir: Path) -> None:
    settings = demo_settings({"tools": {"bash": {"max_output_chars": 2000}}})
    running = await started(settings, workdir)
    try:
        result = await by_name(running.tools())["mcp__demo__big"].run({"n": 50_000}, new_context(workdir, settings))
        assert len(str(result.content)) < 2200
        assert "characters cut from the middle of 50000" in str(result.content)
    finally:
        await running.stop()


async def test_a_crashed_server_is_restarted_and_works_again(workdir: Path) -> None:
    settings = demo_settings()
    running = await started(settings, workdir)
    try:
        tools = by_name(running.tools())
        context = new_context(workdir, settings)
        first = pid_of(await tools["mcp__demo__echo"].run({"text": "a"}, context))
        crashed = await tools["mcp__demo__crash"].run({}, context)
        assert crashed.is_error and "stopped during the call" in str(crashed.content)
        server = running.servers[0]
        for _ in range(200):
            if server.status == "connected" and server.restarts == 1:
                break
            await asyncio.sleep(0.1)
        assert (server.status, server.restarts) == ("connected", 1)
        again = await tools["mcp__demo__echo"].run({"text": "b"}, context)
        assert not again.is_error and pid_of(again) != first
    finally:
        await running.stop()


async def test_a_server_that_dies_while_idle_is_noticed_and_restarted(workdir: Path) -> None:
    settings = demo_settings(health_interval=0.3)
    running = await started(settings, workdir)
    try:
        echo = by_name(running.tools())["mcp__demo__echo"]
        context = new_context(workdir, settings)
        first = pid_of(await echo.run({"text": "a"}, context))
        os.kill(first, 9)
        server = running.servers[0]
        for _ in range(200):
            if server.restarts == 1 and server.status == "connected":
                break
            await asyncio.sleep(0.1)
        assert (server.status, server.restarts) == ("connected", 1)
        assert pid_of(await echo.run({"text": "b"}, context)) != first
    finally:
        await running.stop()


async def test_a_cancelled_call_leaves_the_server_usable(workdir: Path) -> None:
    """Ctrl-C in chat cancels the task running the tool: the call stops, the connection stays."""
    settings = demo_settings()
    running = await started(settings, workdir)
    try:
        tools = by_name(running.tools())
        context = new_context(workdir, settings)
        call = asyncio.create_task(tools["mcp__demo__sleep"].run({"seconds": 30}, context))
        await asyncio.sleep(1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(call, 5)
        result = await asyncio.wait_for(tools["mcp__demo__echo"].run({"text": "after"}, context), 10)
        assert not result.is_error and running.servers[0].restarts == 0
    finally:
        await running.stop()


async def test_restarts_are_bounded_then_the_server_is_left_failed(workdir: Path) -> None:
    settings = demo_settings(max_restarts=1)
    spec = ServerSpec("broken", settings.mcp.servers["demo"].model_copy(update={"args": ["-c", "raise SystemExit(2)"]}),
                      "settings")
    running = McpTools([spec], settings, workdir, workdir.parent / "logs")
    await running.start()
    try:
        server = running.servers[0]
        assert (server.status, server.restarts) == ("failed", 1)
        assert running.tools() == []
    finally:
        await running.stop()


async def test_stop_ends_the_server_process(workdir: Path) -> None:
    settings = demo_settings()
    running = await started(settings, workdir)
    pid = pid_of(await by_name(running.tools())["mcp__demo__echo"].run({"text": "x"}, new_context(workdir, settings)))
    await running.stop()
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"the server process {pid} outlived the session")
    assert running.servers[0].status == "stopped"


@pytest.fixture
def http_server(tmp_path: Path):
    """The demo server over streamable HTTP on a free 127.0.0.1 port; its URL."""
    import socket
    import subprocess
    import sys
    import time

    from tests.chat.mcp.conftest import DEMO_SERVER

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(tmp_path / "http-server.log", "w")
    proc = subprocess.Popen([sys.executable, str(DEMO_SERVER), "--http", str(port)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the HTTP MCP server did not start")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


async def test_a_streamable_http_server_is_listed_and_called(workdir: Path, http_server: str) -> None:
    settings = demo_settings()
    spec = ServerSpec("web", McpServerSettings(type="http", url=http_server, headers={"X-Test": "1"}), "settings")
    running = McpTools([spec], settings, workdir, workdir.parent / "logs")
    await running.start()
    try:
        tools = by_name(running.tools())
        result = await tools["mcp__web__echo"].run({"text": "over http"}, new_context(workdir, settings))
        assert not result.is_error and str(result.content).startswith("echo: over http")
    finally:
        await running.stop()
