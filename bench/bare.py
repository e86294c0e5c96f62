"""The ceiling: the smallest sensible aiohttp pass-through (`python -m bench.bare --port P --upstream URL`)."""

import argparse

from aiohttp import ClientSession, DummyCookieJar, TCPConnector, web

HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}


async def forward(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
    session: ClientSession = request.app["session"]
    async with session.request(request.method, request.app["upstream"] + request.path_qs,
                               headers=headers, data=body) as up:
        out = {k: v for k, v in up.headers.items() if k.lower() not in HOP}
        if up.content_type != "text/event-stream":
            return web.Response(status=up.status, headers=out, body=await up.read())
        resp = web.StreamResponse(status=up.status, headers=out)
        await resp.prepare(request)
        async for chunk in up.content.iter_any():
            await resp.write(chunk)
        await resp.write_eof()
        return resp


async def make_app(upstream: str) -> web.Application:
    app = web.Application()
    app["upstream"] = upstream.rstrip("/")
    app["session"] = ClientSession(connector=TCPConnector(limit=0), auto_decompress=False,
                                   cookie_jar=DummyCookieJar(), skip_auto_headers=("User-Agent", "Accept-Encoding"))
    app.on_cleanup.append(lambda a: a["session"].close())
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    import uvloop
    web.run_app(make_app(args.upstream), host="127.0.0.1", port=args.port, access_log=None, print=None,
                backlog=4096, shutdown_timeout=1, loop=uvloop.new_event_loop())
