"""The viewer as an aiohttp application: mounted at ``/ui`` by ``serve``, or run alone by ``logs ui``.

Every page is rendered on the server from the trace store, in a thread so the event
loop (the proxy's, under ``serve``) never waits on a read. The app answers only GET;
it never writes the log. When the proxy has access keys, ``authorize`` checks each
request: a browser sends the key as the password of HTTP Basic authentication (the
user name is ignored), a script as ``x-api-key`` or a bearer token.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from contextlib import closing
from importlib.resources import files
from typing import Any, Callable, Mapping

from aiohttp import web

from claude_proxy.requestlog.query import LogQueryError
from claude_proxy.requestlog.store.protocol import TraceStore
from claude_proxy.requestlog.viewer import pages

log = logging.getLogger(__name__)

OpenStore = Callable[[], TraceStore]
Authorize = Callable[[Mapping[str, str]], bool]
STORE: web.AppKey[OpenStore] = web.AppKey("store", OpenStore)  # type: ignore[arg-type]
BASE: web.AppKey[str] = web.AppKey("base", str)
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript"}


def basic_password(headers: Mapping[str, str]) -> str | None:
    """The password of an ``Authorization: Basic`` header, where a browser puts the access key."""
    value = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None


def viewer_app(open_store: OpenStore, *, base: str = "/ui", authorize: Authorize | None = None) -> web.Application:
    """The viewer's pages under ``base``; ``authorize`` (when given) must accept each request's headers."""
    middlewares = [_guard(authorize)] if authorize is not None else []
    app = web.Application(middlewares=middlewares)
    app[STORE] = open_store
    app[BASE] = base.rstrip("/")
    app.router.add_get("", _sessions)
    app.router.add_get("/", _sessions)
    app.router.add_get("/sessions/{sid}", _session)
    app.router.add_get("/sessions/{sid}/version", _version)
    app.router.add_get("/turns/{rid}", _turn)
    app.router.add_get("/turns/{rid}/diff", _diff)
    app.router.add_get("/turns/{rid}/raw", _raw)
    app.router.add_get("/usage", _usage)
    app.router.add_get("/static/{name}", _static)
    return app


def _guard(authorize: Authorize) -> Any:
    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if not authorize(request.headers):
            return web.Response(status=401, text="this viewer needs the proxy's access key (as the password)\n",
                                headers={"WWW-Authenticate": 'Basic realm="claude-proxy", charset="UTF-8"'})
        return await handler(request)
    return guard


async def _page(request: web.Request, build: Callable[..., str], *args: Any) -> web.Response:
    """Open the store, build the page in a thread, and map the pages' errors to statuses."""
    open_store = request.app[STORE]

    def run() -> str:
        with closing(open_store()) as store:
            return build(store, *args, request.app[BASE])

    try:
        html = await asyncio.to_thread(run)
    except pages.PageNotFound as exc:
        return _message(404, str(exc), request.app[BASE])
    except pages.BadQuery as exc:
        return _message(400, str(exc), request.app[BASE])
    except LogQueryError as exc:  # the log could not be opened or read: pages turn the user's mistakes into the above
        log.warning("viewer: %s", exc)
        return _message(503, str(exc), request.app[BASE])
    return web.Response(text=html, content_type="text/html", headers=_NO_STORE)


_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
             "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"}


def _message(status: int, text: str, base: str) -> web.Response:
    html = pages.render("message.html", base=base, title=str(status), status=status, message=text)
    return web.Response(status=status, text=html, content_type="text/html", headers=_NO_STORE)


async def _sessions(request: web.Request) -> web.Response:
    return await _page(request, pages.sessions_page, dict(request.query))


async def _session(request: web.Request) -> web.Response:
    return await _page(request, pages.session_page, request.match_info["sid"])


async def _turn(request: web.Request) -> web.Response:
    return await _page(request, pages.turn_page, request.match_info["rid"])


async def _diff(request: web.Request) -> web.Response:
    return await _page(request, pages.diff_page, request.match_info["rid"])


async def _raw(request: web.Request) -> web.Response:
    return await _page(request, pages.raw_page, request.match_info["rid"])


async def _usage(request: web.Request) -> web.Response:
    return await _page(request, pages.usage_page, dict(request.query))


async def _version(request: web.Request) -> web.Response:
    open_store = request.app[STORE]
    sid = request.match_info["sid"]

    def run() -> dict[str, Any]:
        with closing(open_store()) as store:
            return pages.session_version(store, sid)

    try:
        return web.json_response(await asyncio.to_thread(run), headers={"Cache-Control": "no-store"})
    except pages.PageNotFound as exc:
        return web.json_response({"error": str(exc)}, status=404)
    except LogQueryError as exc:  # polled every few seconds by an open page: answered, not logged each time
        return web.json_response({"error": str(exc)}, status=503)


async def _static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    kind = next((t for ext, t in STATIC_TYPES.items() if name.endswith(ext)), None)
    resource = files("claude_proxy.requestlog.viewer") / "static" / name
    if kind is None or "/" in name or not resource.is_file():
        raise web.HTTPNotFound()
    return web.Response(body=resource.read_bytes(), content_type=kind,
                        headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"})


def run_viewer(open_store: OpenStore, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """``logs ui``: serve the viewer alone until Ctrl-C or SIGTERM (``port`` 0 picks a free one)."""
    asyncio.run(_serve(open_store, host, port, on_ready))


async def _serve(open_store: OpenStore, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    import signal

    root = web.Application()
    root.router.add_get("/", _redirect)
    root.add_subapp("/ui", viewer_app(open_store))
    runner = web.AppRunner(root, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        shown = f"[{host}]" if ":" in host else host
        on_ready(f"http://{shown}:{bound}/ui")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


async def _redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/ui")
