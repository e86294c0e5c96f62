"""The concurrency cap with its short queue, and the request-body size and pace limits."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from claude_proxy.proxy.errors import ProxyError, error_response
from claude_proxy.proxy.protection.limits import ConcurrencyGate, read_body


async def test_requests_over_the_cap_queue_then_proceed_in_order():
    gate = ConcurrencyGate(limit=2, queue_size=2, queue_timeout=5)
    await gate.acquire()
    await gate.acquire()
    order = []

    async def waiter(name):
        async with gate.slot():
            order.append(name)

    tasks = [asyncio.create_task(waiter("a")), asyncio.create_task(waiter("b"))]
    await asyncio.sleep(0)
    assert gate.waiting == 2 and gate.active == 2
    gate.release()
    gate.release()
    await asyncio.gather(*tasks)
    assert order == ["a", "b"] and gate.active == 0 and gate.waiting == 0


async def test_beyond_the_queue_is_529_overloaded_at_once():
    gate = ConcurrencyGate(limit=1, queue_size=1, queue_timeout=5)
    await gate.acquire()
    queued = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    with pytest.raises(ProxyError) as caught:
        await gate.acquire()
    assert caught.value.status == 529 and caught.value.error_type == "overloaded_error"
    assert caught.value.headers["retry-after"] == "1"
    gate.release()
    await queued
    assert gate.active == 1


async def test_a_queued_request_gives_up_with_529_after_the_queue_timeout():
    gate = ConcurrencyGate(limit=1, queue_size=5, queue_timeout=0.05)
    await gate.acquire()
    with pytest.raises(ProxyError) as caught:
        await gate.acquire()
    assert caught.value.status == 529
    assert gate.waiting == 0
    gate.release()
    assert gate.active == 0


async def test_a_cancelled_waiter_frees_its_place():
    gate = ConcurrencyGate(limit=1, queue_size=1, queue_timeout=5)
    await gate.acquire()
    task = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gate.waiting == 0
    gate.release()
    assert gate.active == 0
    await gate.acquire()


async def test_zero_means_no_cap():
    gate = ConcurrencyGate(limit=0)
    for _ in range(1000):
        await gate.acquire()
    assert gate.active == 1000


@pytest.fixture
async def body_server(aiohttp_client):
    async def handler(request):
        try:
            body = await read_body(request, max_size=1000, timeout=0.3)
        except ProxyError as exc:
            return error_response(exc.status, exc.message, exc.error_type, exc.headers)
        assert await request.read() == body  # still there for the handler
        return web.Response(text=str(len(body)))

    app = web.Application(client_max_size=1000)
    app.router.add_post("/", handler)
    return await aiohttp_client(app)


async def test_body_within_limits_is_read_whole(body_server):
    resp = await body_server.post("/", data=b"x" * 1000)
    assert resp.status == 200 and await resp.text() == "1000"


async def test_body_over_the_limit_is_413(body_server):
    resp = await body_server.post("/", data=b"x" * 1001)
    assert resp.status == 413
    assert (await resp.json())["error"]["type"] == "request_too_large"


async def test_chunked_body_over_the_limit_is_413(body_server):
    async def chunks():
        for _ in range(20):
            yield b"y" * 100

    resp = await body_server.post("/", data=chunks())
    assert resp.status == 413


async def test_slow_body_is_408(body_server):
    async def trickle():
        yield b"a"
        await asyncio.sleep(2)
        yield b"b"

    resp = await body_server.post("/", data=trickle())
    assert resp.status == 408
    assert (await resp.json())["error"]["type"] == "timeout_error"
