"""WebFetch against a real aiohttp server on 127.0.0.1, and WebSearch against a fake SearXNG."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from claude_proxy.tools.registry import run_tool
from tests.tools.helpers import context_with, text_of

PAGE = """<!doctype html><html><head><title>T</title><style>body{color:red}</style></head>
<body><script>var secret = "do-not-show";</script>
<h1>Release notes</h1><p>Version <b>2.0</b> adds <a href="https://example.org/x">links</a>.</p>
<ul><li>one</li><li>two</li></ul></body></html>"""


@pytest.fixture
async def site(aiohttp_server):
    hits: list[str] = []

    async def page(request):
        hits.append(request.path)
        return web.Response(text=PAGE, content_type="text/html")

    async def redirect(request):
        hits.append(request.path)
        raise web.HTTPFound(request.query["to"])

    async def big(request):
        return web.Response(text="x" * 50_000, content_type="text/plain")

    async def slow(request):
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def missing(request):
        return web.Response(status=404, text="no such page", content_type="text/plain")

    async def image(request):
        return web.Response(body=b"\x89PNG\r\n\x1a\n", content_type="image/png")

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    app.router.add_get("/missing", missing)
    app.router.add_get("/image", image)
    server = await aiohttp_server(app, host="127.0.0.1")
    server.hits = hits
    return server


def url(server, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


async def fetch(ws: Path, target: str, **web_settings) -> object:
    context = context_with(ws, {"web": web_settings})
    return await run_tool("WebFetch", {"url": target, "prompt": "What changed?"}, context)


async def test_loopback_is_refused_by_default_without_connecting(ws: Path, site) -> None:
    result = await fetch(ws, url(site, "/page"))
    assert result.is_error and "loopback" in text_of(result)
    assert site.hits == []


async def test_fetches_and_converts_html_when_private_addresses_allowed(ws: Path, site) -> None:
    result = await fetch(ws, url(site, "/page"), allow_private_addresses=True)
    assert not result.is_error, result.content
    text = text_of(result)
    assert "Prompt: What changed?" in text
    assert "# Release notes" in text
    assert "[links](https://example.org/x)" in text and "**2.0**" in text
    assert "- one" in text
    assert "do-not-show" not in text and "color:red" not in text


async def test_allowed_networks_open_one_range(ws: Path, site) -> None:
    result = await fetch(ws, url(site, "/page"), allowed_networks=["127.0.0.1/32"])
    assert not result.is_error


async def test_redirect_to_denied_host_is_refused(ws: Path, site) -> None:
    result = await fetch(ws, url(site, "/redirect?to=http://denied.example/"), allow_private_addresses=True,
                         deny_hosts=["denied.example"])
    assert result.is_error and "denied.example" in text_of(result) and "deny_hosts" in text_of(result)


async def test_redirect_to_a_host_a_deny_rule_names_is_refused(ws: Path, site) -> None:
    """The guard checks the URL the model gave; a redirect is checked here, against the same rules."""
    from claude_proxy.settings import parse_settings
    from claude_proxy.tools.registry import new_context

    target = f"http://localhost:{site.port}/page"
    context = new_context(ws, parse_settings({"tools": {"web": {"allow_private_addresses": True}},
                                              "permissions": {"deny": ["WebFetch(domain:localhost)"]}}))
    result = await run_tool("WebFetch", {"url": url(site, f"/redirect?to={target}"), "prompt": "x"}, context)
    assert result.is_error and "WebFetch(domain:localhost)" in text_of(result)
    assert site.hits == ["/redirect"]


async def test_redirect_to_host_outside_allow_list_is_refused(ws: Path, site) -> None:
    target = f"http://localhost:{site.port}/page"
    result = await fetch(ws, url(site, f"/redirect?to={target}"), allow_private_addresses=True,
                         allow_hosts=["127.0.0.1"])
    assert result.is_error and "allow_hosts" in text_of(result)
    assert site.hits == ["/redirect"]


async def test_every_redirect_hop_is_address_checked(ws: Path, site) -> None:
    target = f"http://127.0.0.2:{site.port}/page"
    result = await fetch(ws, url(site, f"/redirect?to={target}"), allowed_networks=["127.0.0.1/32"])
    assert result.is_error and "127.0.0.2" in text_of(result)
    assert site.hits == ["/redirect"]


async def test_allowed_redirect_is_followed(ws: Path, site) -> None:
    result = await fetch(ws, url(site, "/redirect?to=/page"), allow_private_addresses=True)
    assert not result.is_error
    assert "Redirected from" in text_of(result) and "# Release notes" in text_of(result)


@pytest.mark.parametrize("target", [
    "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
    "http://0.0.0.0/", "http://192.168.1.1/", "http://localhost/", "http://100.64.0.1/",
    "http://[2002:7f00:1::]/", "http://[64:ff9b::a00:1]/", "http://2130706433/", "http://0x7f.1/",
])
async def test_private_and_special_addresses_refused(ws: Path, target: str) -> None:
    result = await fetch(ws, target)
    assert result.is_error and "refused" in text_of(result)


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/", "http://user:pw@example.com/"])
async def test_only_plain_http_and_https(ws: Path, target: str) -> None:
    result = await fetch(ws, target)
    assert result.is_error and "refused" in text_of(result)


async def test_size_limit_cuts_the_page(ws: Path, site) -> None:
    result = await fetch(ws, url(site, "/big"), allow_private_addresses=True, max_bytes=1000)
    assert not result.is_error
    assert "cut at 1000 bytes" in text_of(result)
    assert text_of(result).count("x") <= 1000 + 10


async def test_time_limit(ws: Path, site) -> None:
    result = await fetch(ws, url(site, "/slow"), allow_private_addresses=True, timeout=0.3)
    assert result.is_error and "timed out" in text_of(result)


async def test_http_error_and_binary_types_are_errors(ws: Path, site) -> None:
    missing = await fetch(ws, url(site, "/missing"), allow_private_addresses=True)
    assert missing.is_error and "HTTP 404" in text_of(missing) and "no such page" in text_of(missing)
    image = await fetch(ws, url(site, "/image"), allow_private_addresses=True)
    assert image.is_error and "image/png" in text_of(image)


# ---- WebSearch ------------------------------------------------------------------------


@pytest.fixture
async def searxng(aiohttp_server):
    queries: list[dict] = []

    async def search(request):
        queries.append(dict(request.query))
        if request.query.get("format") != "json":
            return web.Response(status=403)
        return web.json_response({"query": request.query["q"], "results": [
            {"url": "https://docs.python.org/3/library/asyncio.html", "title": "asyncio",
             "content": "Asynchronous  I/O"},
            {"url": "https://blog.example.com/asyncio", "title": "A blog", "content": "Opinions"},
            {"url": "https://spam.test/x", "title": "Spam", "content": "buy"},
        ]})

    app = web.Application()
    app.router.add_get("/search", search)
    server = await aiohttp_server(app, host="127.0.0.1")
    server.queries = queries
    return server


def search_context(ws: Path, server) -> object:
    return context_with(ws, {"search": {"backend": "searxng", "searxng_url": f"http://127.0.0.1:{server.port}"}})


async def test_websearch_without_backend_says_how_to_configure(ws: Path, call) -> None:
    result = await call("WebSearch", {"query": "python asyncio"})
    assert result.is_error
    assert "backend: searxng" in text_of(result) and "searxng_url" in text_of(result)


async def test_websearch_searxng_results(ws: Path, searxng) -> None:
    result = await run_tool("WebSearch", {"query": "python asyncio"}, search_context(ws, searxng))
    assert not result.is_error
    text = text_of(result)
    assert text.startswith('Web search results for "python asyncio"')
    assert "1. asyncio\n   https://docs.python.org/3/library/asyncio.html\n   Asynchronous I/O" in text
    assert searxng.queries == [{"q": "python asyncio", "format": "json"}]


async def test_websearch_domain_filters(ws: Path, searxng) -> None:
    context = search_context(ws, searxng)
    allowed = text_of(await run_tool("WebSearch", {"query": "asyncio", "allowed_domains": ["example.com"]}, context))
    assert "blog.example.com" in allowed and "python.org" not in allowed
    blocked = text_of(await run_tool(
        "WebSearch", {"query": "asyncio", "blocked_domains": ["spam.test", "python.org"]}, context))
    assert "blog.example.com" in blocked and "spam.test" not in blocked and "docs.python.org" not in blocked


async def test_websearch_unreachable_backend_is_an_error(ws: Path, unused_tcp_port: int) -> None:
    context = context_with(ws, {"search": {"backend": "searxng", "searxng_url": f"http://127.0.0.1:{unused_tcp_port}"}})
    result = await run_tool("WebSearch", {"query": "anything"}, context)
    assert result.is_error and "could not be reached" in text_of(result)


class FakeBackend:
    def __init__(self, settings) -> None:
        self.settings = settings

    async def search(self, query: str, max_results: int):
        from claude_proxy.tools.websearch import SearchHit

        return [SearchHit(f"hit {i} for {query}", f"https://site{i}.example/") for i in range(max_results + 5)]


def make_fake(settings):
    return FakeBackend(settings)


async def test_websearch_plugin_backend_and_result_cap(ws: Path) -> None:
    context = context_with(ws, {"search": {"backend": "tests.tools.test_web_tools:make_fake", "max_results": 3}})
    text = text_of(await run_tool("WebSearch", {"query": "plug"}, context))
    assert "3. hit 2 for plug" in text and "4." not in text


@pytest.fixture
async def brave(aiohttp_server):
    async def search(request):
        if request.headers.get("X-Subscription-Token") != "brave-secret-key-1234":
            return web.json_response({"error": "bad key"}, status=401)
        return web.json_response({"web": {"results": [
            {"title": "Brave hit", "url": "https://brave.example/a", "description": "About " + request.query["q"]},
        ]}})

    app = web.Application()
    app.router.add_get("/res/v1/web/search", search)
    return await aiohttp_server(app, host="127.0.0.1")


async def test_websearch_brave_backend(ws: Path, brave, monkeypatch) -> None:
    monkeypatch.delenv("BRAVE_API_KEY", raising=False)
    endpoint = f"http://127.0.0.1:{brave.port}/res/v1/web/search"
    good = context_with(ws, {"search": {"backend": "brave", "brave_url": endpoint,
                                        "brave_api_key": "brave-secret-key-1234"}})
    text = text_of(await run_tool("WebSearch", {"query": "bubblewrap"}, good))
    assert "1. Brave hit\n   https://brave.example/a\n   About bubblewrap" in text
    wrong = context_with(ws, {"search": {"backend": "brave", "brave_url": endpoint, "brave_api_key": "wrong-key-9876"}})
    refused = await run_tool("WebSearch", {"query": "bubblewrap"}, wrong)
    assert refused.is_error and "9876" in text_of(refused) and "wrong-key" not in text_of(refused)
    missing = await run_tool("WebSearch", {"query": "bubblewrap"}, context_with(ws, {"search": {"backend": "brave"}}))
    assert missing.is_error and "brave_api_key" in text_of(missing)
