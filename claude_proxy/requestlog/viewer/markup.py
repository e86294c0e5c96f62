"""How values look in the viewer's pages: Markdown, numbers, times, JSON and diffs, as template filters.

Everything that comes from the log is untrusted (a model's text, a tool's output, a
client's headers): Markdown is rendered with raw HTML turned off, links limited to
http(s) and mailto, and everything else is escaped by Jinja's autoescaping.
"""

from __future__ import annotations

import difflib
import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from markupsafe import Markup, escape

MAX_TEXT = 200_000  # characters of one block shown; the rest is cut with a note


@lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True})
    md.enable("table")
    md.validateLink = lambda url: url.lower().startswith(("http://", "https://", "mailto:", "#"))  # type: ignore
    return md


def markdown(text: Any) -> Markup:
    """Markdown as safe HTML (no raw HTML, only web links)."""
    value = str(text or "")
    note = ""
    if len(value) > MAX_TEXT:
        note = f"\n\n*[{len(value) - MAX_TEXT:,} more characters not shown]*"
        value = value[:MAX_TEXT]
    return Markup(_markdown().render(value + note))  # noqa: S704 - markdown-it escapes, html is off


def pretty_json(value: Any) -> str:
    """JSON indented for reading (a string that is JSON is parsed first)."""
    if isinstance(value, (bytes, str)):
        try:
            value = json.loads(value)
        except ValueError:
            return value.decode(errors="replace") if isinstance(value, bytes) else value
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"\n... {len(text) - MAX_TEXT:,} more characters"


def diff_lines(before: str, after: str, name: str = "") -> list[str]:
    """A unified diff of two texts (an empty ``before`` shows a new file)."""
    return list(difflib.unified_diff(before.splitlines(), after.splitlines(), f"a/{name}", f"b/{name}",
                                     lineterm="", n=3))[2:]


def diff_html(lines: list[str]) -> Markup:
    """Diff lines with a class per kind: added, removed, hunk header, context."""
    out = []
    for line in lines:
        kind = ("add" if line.startswith("+") else "del" if line.startswith("-")
                else "hunk" if line.startswith("@@") else "ctx")
        out.append(f'<span class="d-{kind}">{escape(line)}</span>')
    return Markup("".join(out))  # noqa: S704 - each line escaped above; spans are blocks


def when(stamp: Any) -> str:
    """A log timestamp (seconds) as local date and time."""
    if not isinstance(stamp, (int, float)):
        return "-"
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def count(value: Any) -> str:
    """A token count, compact: 950, 12.3k, 1.2M."""
    if not isinstance(value, (int, float)):
        return "-"
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return str(int(value))


def usd(value: Any) -> str:
    """A cost in dollars; '-' when unknown (a model without a price)."""
    if not isinstance(value, (int, float)):
        return "-"
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def ms(value: Any) -> str:
    """A duration in milliseconds, as ms or s."""
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.1f} s"


def ratio(value: Any) -> str:
    return "-" if not isinstance(value, (int, float)) else f"{value * 100:.0f}%"


FILTERS = {"markdown": markdown, "pretty_json": pretty_json, "diff_html": diff_html, "when": when,
           "count": count, "usd": usd, "ms": ms, "ratio": ratio}
