"""WebSearch with a pluggable back end: SearXNG's JSON API, or any ``module:factory``.

A back end is an object with ``async search(query, max_results) -> list[SearchHit]``.
``tools.search.backend`` names it: ``none`` (the default: the tool explains how to
configure one), ``searxng`` (``tools.search.searxng_url``), ``brave`` (the Brave Search
API, ``tools.search.brave_api_key``), or ``package.module:factory``
where ``factory(settings: SearchToolSettings)`` returns a back end. The configured
back end's URL is trusted (often a self-hosted instance on the local network), so the
WebFetch address policy does not apply to it.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from claude_proxy.settings import SearchToolSettings
from claude_proxy.tools.base import Tool, ToolContext, ToolResult

HOW_TO_CONFIGURE = (
    "WebSearch has no search back end configured. To enable it, add to the settings file "
    "(./claude-proxy.yaml or ~/.config/claude-proxy/settings.yaml):\n"
    "  tools:\n"
    "    search:\n"
    "      backend: searxng\n"
    "      searxng_url: http://127.0.0.1:8888   # a SearXNG instance\n"
    "SearXNG must allow JSON output: in its settings.yml, search.formats: [html, json]. "
    "Or use the Brave Search API: backend: brave, with brave_api_key (or $BRAVE_API_KEY). "
    "A custom back end can be plugged in with backend: package.module:factory."
)


@dataclass
class SearchHit:
    title: str
    url: str
    snippet: str = ""


class SearchBackend(Protocol):
    async def search(self, query: str, max_results: int) -> list[SearchHit]: ...


class SearchFailed(Exception):
    """The back end could not answer; the message is for the model."""


class SearxngBackend:
    """SearXNG's ``/search?format=json`` API."""

    def __init__(self, settings: SearchToolSettings) -> None:
        if not settings.searxng_url:
            raise SearchFailed("tools.search.backend is searxng but tools.search.searxng_url is not set")
        self.url = settings.searxng_url.rstrip("/")
        self.timeout = settings.timeout

    async def search(self, query: str, max_results: int) -> list[SearchHit]:
        import aiohttp

        endpoint = self.url if self.url.endswith("/search") else self.url + "/search"
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
                async with session.get(endpoint, params={"q": query, "format": "json"},
                                       headers={"Accept": "application/json"}) as resp:
                    if resp.status == 403:
                        raise SearchFailed(
                            f"SearXNG at {self.url} refused JSON output (403); enable it in its settings.yml: "
                            "search.formats: [html, json]"
                        )
                    if resp.status != 200:
                        raise SearchFailed(f"SearXNG at {self.url} answered HTTP {resp.status}")
                    data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SearchFailed(f"SearXNG at {self.url} could not be reached: {type(exc).__name__}: {exc}") from None
        hits = []
        for item in data.get("results", []) if isinstance(data, dict) else []:
            if isinstance(item, dict) and item.get("url"):
                url = str(item["url"])
                hits.append(SearchHit(str(item.get("title") or url), url, str(item.get("content") or "")))
        return hits


class BraveBackend:
    """The Brave Search API (``tools.search.brave_api_key``; it has a free tier)."""

    def __init__(self, settings: SearchToolSettings) -> None:
        key = settings.brave_api_key or os.environ.get("BRAVE_API_KEY")
        if not key:
            raise SearchFailed("tools.search.backend is brave but no key is set "
                               "(tools.search.brave_api_key or $BRAVE_API_KEY)")
        self.key = key
        self.url = settings.brave_url
        self.timeout = settings.timeout

    async def search(self, query: str, max_results: int) -> list[SearchHit]:
        import aiohttp

        headers = {"Accept": "application/json", "X-Subscription-Token": self.key}
        params = {"q": query, "count": str(min(max_results, 20))}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
                async with session.get(self.url, params=params, headers=headers) as resp:
                    if resp.status in (401, 403):
                        raise SearchFailed(f"Brave Search refused the key ending {self.key[-4:]} (HTTP {resp.status})")
                    if resp.status != 200:
                        raise SearchFailed(f"Brave Search answered HTTP {resp.status}")
                    data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SearchFailed(f"Brave Search could not be reached: {type(exc).__name__}: {exc}") from None
        results = ((data.get("web") or {}).get("results") or []) if isinstance(data, dict) else []
        return [SearchHit(str(r.get("title") or r["url"]), str(r["url"]), str(r.get("description") or ""))
                for r in results if isinstance(r, dict) and r.get("url")]


def make_backend(settings: SearchToolSettings) -> SearchBackend | None:
    """The configured back end, None when there is none; `SearchFailed` when it is misconfigured."""
    name = settings.backend.strip()
    if name in ("", "none"):
        return None
    if name == "searxng":
        return SearxngBackend(settings)
    if name == "brave":
        return BraveBackend(settings)
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise SearchFailed(f"cannot load search back end {name}: {exc}") from None
        return factory(settings)
    raise SearchFailed(f"unknown search back end {name!r}; use none, searxng, brave or package.module:factory")


def filter_hits(hits: list[SearchHit], allowed: list[str], blocked: list[str]) -> list[SearchHit]:
    """Keep hits on an allowed domain (or subdomain), drop those on a blocked one."""
    from claude_proxy.tools.netpolicy import host_matches  # it imports aiohttp: not at start-up

    out = []
    for hit in hits:
        host = urlsplit(hit.url).hostname or ""
        if allowed and not any(host_matches(host, "." + d.lstrip(".")) for d in allowed):
            continue
        if any(host_matches(host, "." + d.lstrip(".")) for d in blocked):
            continue
        out.append(hit)
    return out


class WebSearchTool(Tool):
    name = "WebSearch"
    aliases = ("web_search", "google_web_search")
    read_only = True
    key_argument = "query"
    description = (
        "Searches the web and returns result titles, URLs and snippets. Use it for current "
        "information beyond your training data, then WebFetch a result for details. "
        "allowed_domains keeps only results from those domains (and their subdomains); "
        "blocked_domains drops results from them."
    )
    input_schema = {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 2, "description": "The search query to use"},
            "allowed_domains": {"type": "array", "items": {"type": "string"},
                                "description": "Only include results from these domains"},
            "blocked_domains": {"type": "array", "items": {"type": "string"},
                                "description": "Never include results from these domains"},
        },
        "required": ["query"],
        "additionalProperties": False,
    }

    async def run(self, tool_input: dict[str, Any], context: ToolContext) -> ToolResult:
        settings = context.settings.tools.search
        query = tool_input["query"]
        try:
            backend = make_backend(settings)
            if backend is None:
                return ToolResult.error(HOW_TO_CONFIGURE)
            hits = await backend.search(query, settings.max_results)
        except SearchFailed as exc:
            return ToolResult.error(f"WebSearch failed: {exc}")
        hits = filter_hits(hits, tool_input.get("allowed_domains") or [], tool_input.get("blocked_domains") or [])
        hits = hits[:settings.max_results]
        if not hits:
            return ToolResult(f'No web results for "{query}".')
        lines = [f'Web search results for "{query}":', ""]
        for number, hit in enumerate(hits, start=1):
            lines.append(f"{number}. {hit.title}\n   {hit.url}")
            if hit.snippet:
                lines.append(f"   {' '.join(hit.snippet.split())}")
        return ToolResult("\n".join(lines))
