"""WebFetch: one web page, as Markdown, through the URL policy in `netpolicy`.

Redirects are followed by hand so every hop passes the same checks as the first URL.
The result carries the page text and the model's prompt; the chat loop applies the
prompt (for instance by asking a small model), so this tool never calls a model.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from claude_proxy.settings import WebToolSettings
from claude_proxy.tools.base import Tool, ToolContext, ToolResult

log = logging.getLogger(__name__)

USER_AGENT = "claude-proxy-webfetch/0.1"
REDIRECTS = {301, 302, 303, 307, 308}
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml+xml",
              "application/javascript", "application/ld+json", "application/rss+xml", "application/atom+xml")


class FetchFailed(Exception):
    """A fetch that did not produce a page; the message is for the model."""


def html_to_markdown(html: str) -> str:
    """Readable Markdown from HTML, without scripts, styles and other non-content elements."""
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "iframe", "svg", "head"]):
        tag.decompose()
    text = MarkdownConverter(heading_style="ATX", bullets="-").convert_soup(soup)
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


async def fetch(url: str, settings: WebToolSettings,
                refuse: Callable[[str], str | None] = lambda url: None) -> tuple[str, int, str, bytes, bool]:
    """GET ``url`` under the policy: (final url, status, content type, body, body was cut).

    ``refuse(url)`` is asked at every hop, redirects included: a reason refuses the host
    (the permission rules' ``WebFetch(domain:...)`` denials).
    """
    import aiohttp
    from yarl import URL

    from claude_proxy.tools.netpolicy import PinnedResolver, URLRefused, check_url, resolve_checked

    resolver = PinnedResolver()
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, limit=4)
    timeout = aiohttp.ClientTimeout(total=settings.timeout)
    current = URL(url)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False,
                                     headers={"User-Agent": USER_AGENT}, auto_decompress=True) as session:
        for _hop in range(settings.max_redirects + 1):
            check_url(current, settings)
            host = current.host or ""
            refused = refuse(str(current))
            if refused:
                raise URLRefused(f"{current}: {refused}")
            port = current.port or (443 if current.scheme == "https" else 80)
            resolver.pinned[(host, port)] = await resolve_checked(host, port, settings)
            async with session.get(current, allow_redirects=False,
                                   headers={"Accept": "text/html,text/markdown,text/plain,*/*;q=0.8"}) as resp:
                if resp.status in REDIRECTS and "Location" in resp.headers:
                    try:
                        target = current.join(URL(resp.headers["Location"]))
                    except ValueError:
                        raise FetchFailed(f"redirect to an invalid URL: {resp.headers['Location']!r}") from None
                    try:
                        check_url(target, settings)
                    except URLRefused as exc:
                        raise URLRefused(f"{current} redirects to {target}, which is refused: {exc}") from None
                    current = target
                    continue
                body = bytearray()
                cut = False
                async for chunk in resp.content.iter_chunked(65536):
                    body += chunk
                    if len(body) > settings.max_bytes:
                        del body[settings.max_bytes:]
                        cut = True
                        break
                return str(current), resp.status, resp.headers.get("Content-Type", ""), bytes(body), cut
    raise FetchFailed(f"more than {settings.max_redirects} redirects")


def _denied_hosts(context: ToolContext) -> Callable[[str], str | None]:
    """The ``WebFetch(domain:...)`` deny rules as a check of one URL's host, for every hop of a fetch."""
    from claude_proxy.permission_rules import covers_tool, match_domain, settings_rules
    from claude_proxy.tools.guard.permissions import fetched_hosts

    rules = [rule for rule in settings_rules(context.settings.permissions, "deny")
             if covers_tool(rule, "WebFetch") and rule.specifier]

    def refuse(url: str) -> str | None:
        hosts = fetched_hosts(url)  # read as the guard reads the first URL: Unicode and IDNA forms
        rule = next((rule for rule in rules if rule.specifier and any(match_domain(rule.specifier, host)
                                                                      for host in hosts)), None)
        return f"denied by the permission rule {rule}" if rule else None
    return refuse


def _decode(body: bytes, content_type: str) -> str:
    charset = "utf-8"
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"')
    try:
        return body.decode(charset, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")


class WebFetchTool(Tool):
    name = "WebFetch"
    aliases = ("web_fetch", "fetch")
    read_only = True
    key_argument = "url"
    description = (
        "Fetches a URL and returns its content as Markdown together with your prompt, so you can "
        "answer the prompt from the page.\n"
        "- The URL must be a fully formed http or https URL.\n"
        "- Private, loopback and link-local addresses are refused unless the user allows them; "
        "some hosts may be blocked by the user's settings.\n"
        "- Redirects are followed only to allowed hosts.\n"
        "- Large pages are cut. Read-only: it does not change anything."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "url": {"type": "string", "format": "uri", "description": "The URL to fetch content from"},
            "prompt": {"type": "string", "description": "What to find or extract from the fetched content"},
        },
        "required": ["url", "prompt"],
        "additionalProperties": False,
    }

    async def run(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        import aiohttp

        from claude_proxy.tools.netpolicy import URLRefused  # aiohttp, so not at start-up

        settings = context.settings.tools.web
        url, prompt = tool_input["url"], tool_input["prompt"]
        try:
            final, status, content_type, body, cut = await fetch(url, settings, _denied_hosts(context))
        except URLRefused as exc:
            log.info("WebFetch refused %s: %s", url, exc)
            return ToolResult.error(f"WebFetch refused {url}: {exc}")
        except FetchFailed as exc:
            return ToolResult.error(f"WebFetch failed for {url}: {exc}")
        except asyncio.TimeoutError:
            return ToolResult.error(f"WebFetch timed out after {settings.timeout:g} s fetching {url}")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return ToolResult.error(f"WebFetch failed for {url}: {type(exc).__name__}: {exc}")
        media = content_type.split(";")[0].strip().lower()
        if media and not media.startswith(TEXT_TYPES):
            return ToolResult.error(f"{final} returned {media} ({len(body)} bytes), which cannot be shown as text")
        text = _decode(body, content_type)
        if media in ("text/html", "application/xhtml+xml") or (not media and "<html" in text[:1000].lower()):
            text = await asyncio.to_thread(html_to_markdown, text)
        notes = []
        if cut:
            notes.append(f"the page was cut at {settings.max_bytes} bytes")
        if len(text) > settings.max_chars:
            notes.append(f"the text was cut at {settings.max_chars} of {len(text)} characters")
            text = text[:settings.max_chars]
        header = f"URL: {final}\nStatus: {status}\nContent-Type: {media or 'unknown'}"
        if final != url:
            header += f"\nRedirected from: {url}"
        if notes:
            header += "\nNote: " + "; ".join(notes)
        result = f"{header}\nPrompt: {prompt}\n\n--- content ---\n{text}"
        if status >= 400:
            return ToolResult.error(f"HTTP {status} from {final}\n\n{result}")
        return ToolResult(result)
