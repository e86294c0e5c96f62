"""The viewer in a real browser: a session sent through a real `serve`, read page by page as a person would."""

from __future__ import annotations

import asyncio
import os
import struct
import zlib
from pathlib import Path

import anthropic
import pytest

from tests.requestlog.viewer.conftest import wait_rows
from tests.support import coding_session

pytestmark = pytest.mark.processes
SCREENSHOTS = os.environ.get("CLAUDE_PROXY_SCREENSHOTS")  # a folder: keep the session screenshot there (docs/)


def png_content(png: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the pixel data) of a PNG: a blank page has very few."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    data, at = b"", 8
    while at < len(png):
        size, kind = struct.unpack(">I4s", png[at:at + 8])
        if kind == b"IDAT":
            data += png[at + 8:at + 8 + size]
        at += 12 + size
    return width, height, len(set(zlib.decompress(data)))


def _text(driver) -> str:
    return driver.find_element("tag name", "body").text


async def test_session_to_turn_to_diff_to_raw(served_session, browser) -> None:
    proc, _, _ = served_session
    driver = browser
    await asyncio.to_thread(driver.get, proc.url + "/ui")
    table = driver.find_element("id", "sessions")
    assert coding_session.PROMPT in table.text
    assert "/home/dev/greeter" in table.text and "claude-sonnet-4-5" in table.text
    assert "(1 subagent)" in table.text

    # the session: the conversation as a person reads it
    driver.find_element("link text", coding_session.PROMPT).click()
    page = _text(driver)
    assert "Fix the greeting in hello.py" in page
    assert "I'll fix the typo in hello.py." in page
    assert "The file prints helo" not in page  # thinking is folded away
    diff_lines = [e.text for e in driver.find_elements("css selector", "pre.diff span.d-add")]
    assert "+print('hello')" in diff_lines  # the Edit shown as a diff
    assert "Only hello.py had the typo." in page  # a tool's result under its call
    assert "Subagent" in page and coding_session.SUBAGENT_PROMPT in page
    strong = driver.find_elements("css selector", ".md strong")
    assert "greeting" in [e.text for e in strong]  # Markdown rendered, not shown raw
    png = driver.get_screenshot_as_png()
    width, height, distinct = png_content(png)
    assert width >= 1000 and height >= 800 and distinct > 40, "the screenshot looks blank"
    if SCREENSHOTS:
        (Path(SCREENSHOTS) / "viewer-session.png").write_bytes(png)

    # a turn, then what changed from the one before, then the raw exchange
    turns = driver.find_elements("css selector", "#threads .turn")
    turns[2].find_element("link text", "turn").click()
    assert "Bash" in _text(driver) and "python hello.py" in _text(driver)
    driver.find_element("link text", "diff").click()
    cache = driver.find_element("id", "cache-break").text
    assert cache == "Prompt cache: prefix intact: 2 messages appended"
    assert "3 before, 5 now." in _text(driver)
    driver.back()
    driver.find_element("link text", "raw").click()
    headers = driver.find_element("id", "request-headers").text
    assert "x-claude-code-session-id" in headers and coding_session.SESSION in headers  # not a secret
    assert "sk-ant-viewer-test-0001" not in _text(driver)  # the key is never shown whole
    assert "****0001" in headers
    events = driver.find_element("id", "events").text
    assert events.index("message_start") < events.index("message_stop")
    stamps = [td.text for td in driver.find_elements("css selector", "#events tbody td.num")]
    assert stamps and all(t.startswith("+") and t.endswith("ms") for t in stamps)  # each event on the time line
    assert '"model": "claude-sonnet-4-5"' in driver.find_element("id", "request-body").text.replace('":"', '": "')


async def test_new_turns_appear_while_the_session_page_is_open(served_session, browser) -> None:
    proc, _, fake = served_session
    driver = browser
    await asyncio.to_thread(driver.get, f"{proc.url}/ui/sessions/{coding_session.SESSION}")
    assert len(driver.find_elements("css selector", "#threads .turn")) == 5
    client = anthropic.AsyncAnthropic(base_url=proc.url, api_key="sk-ant-viewer-test-0001", max_retries=0,
                                      default_headers={"x-claude-code-session-id": coding_session.SESSION})
    await client.messages.create(model="claude-sonnet-4-5", max_tokens=10,
                                 messages=[{"role": "user", "content": "one more question"}])
    await wait_rows(proc.url, coding_session.SESSION, 6)
    for _ in range(50):  # the page polls every 2 s
        if len(driver.find_elements("css selector", "#threads .turn")) == 6:
            break
        await asyncio.sleep(0.2)
    assert "one more question" in _text(driver)
    assert "6 requests" in driver.find_element("id", "turn-count").text


async def test_usage_page_and_search(served_session, browser) -> None:
    proc, _, _ = served_session
    driver = browser
    await asyncio.to_thread(driver.get, proc.url + "/ui/usage")
    totals = driver.find_element("id", "totals").text
    assert "5 requests" in totals and "0 errors" in totals and "$0.0089" in totals
    charts = driver.find_elements("css selector", "svg.chart")
    assert [c.get_attribute("aria-label") for c in charts][:2] == ["Cost by day", "Tokens by day"]
    assert "claude-sonnet-4-5" in charts[3].text  # cost by model
    box = driver.find_element("css selector", "form.search input")
    box.send_keys("misspelled greetings\n")
    found = driver.find_element("id", "found").text
    assert coding_session.SESSION[:12] in found and "misspelled greetings" in found


async def test_exported_page_opens_offline_in_the_browser(served_session, browser, cli, cli_env, tmp_path) -> None:
    _, db, _ = served_session
    out = tmp_path / "session.html"
    done = await asyncio.create_subprocess_exec(*cli, "logs", "export", coding_session.SESSION[:8], "--html",
                                                "--log-db", str(db), "-o", str(out), env=cli_env,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await done.communicate()
    assert done.returncode == 0, err
    page = out.read_text()
    assert "<script" not in page and 'href="http' not in page and "stylesheet" not in page  # self-contained
    driver = browser
    await asyncio.to_thread(driver.get, out.as_uri())
    text = _text(driver)
    assert coding_session.PROMPT in text and "Done. The greeting is fixed:" in text
    assert driver.find_element("css selector", ".turn").value_of_css_property("border-top-style") == "solid"
