"""A small MCP server for the tests, written with the `mcp` SDK: run it as a program.

``python mcp_demo_server.py`` serves over stdio; ``--http PORT`` serves streamable HTTP on
127.0.0.1. Tools: ``echo`` (text back, with the server's pid), ``fail`` (an error result),
``crash`` (the process exits at once, as a crashing server does), ``sleep``, ``big`` (``n`` characters),
and ``picture`` (a 1x1 PNG).
"""

from __future__ import annotations

import base64
import os
import sys

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
                       "AAAABJRU5ErkJggg==")

app = MCPServer("demo", log_level="ERROR")


@app.tool()
def echo(text: str) -> str:
    """Say the text back, with the server's process id."""
    return f"echo: {text} (pid {os.getpid()})"


@app.tool()
def fail(reason: str = "it broke") -> str:
    """Fail with the given reason."""
    raise ToolError(reason)


@app.tool()
def crash() -> str:
    """Exit the server process at once."""
    os._exit(3)


@app.tool()
async def sleep(seconds: float) -> str:
    """Sleep, then say so."""
    await anyio.sleep(seconds)
    return f"slept {seconds}"


@app.tool()
def big(n: int) -> str:
    """Return n characters."""
    return "x" * n


@app.tool()
def picture() -> Image:
    """A one-pixel PNG."""
    return Image(data=PNG, format="png")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        app.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        app.run()
