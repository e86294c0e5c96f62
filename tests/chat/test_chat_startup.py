"""`chat -p` start-up: what it imports before its first request (the bench measures the time)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.scripted_anthropic import Reply, ScriptedAnthropic

# each of these costs tens of milliseconds to seconds, and -p needs none of them for a plain answer
NOT_AT_START = ("anthropic", "httpx", "httpcore", "trio", "rich", "prompt_toolkit", "pygments", "jsonschema", "mcp",
                "wcmatch", "bs4", "markdownify")


@pytest.mark.processes
def test_chat_p_imports_neither_the_sdk_nor_the_ui_libraries(chat_env: dict[str, str], fake: ScriptedAnthropic,
                                                             workdir: Path) -> None:
    fake.script(Reply("hello"))
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "claude_proxy", "chat", "-p", "hi"],
                          cwd=workdir, env=chat_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == "hello\n"
    imported = {m.group(1).split(".")[0] for m in re.finditer(r"^import time:.*\|\s*(\S+)$", done.stderr, re.M)}
    assert "claude_proxy" in imported and "aiohttp" in imported
    assert sorted(imported & set(NOT_AT_START)) == []
