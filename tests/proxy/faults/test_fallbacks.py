"""Fallback routes: tried in order when the primary still fails with a retryable error."""

from __future__ import annotations

from claude_proxy.proxy.upstream.fallbacks import fallback_chain, send_with_fallbacks
from claude_proxy.proxy.upstream.retry import RetryPolicy, send_with_retries
from claude_proxy.settings import parse_settings

ROUTES = parse_settings({
    "backends": {"a": {"base_url": "http://127.0.0.1:1"}},
    "routes": {
        "big": {"backend": "a", "model": "claude-opus-4-1", "fallbacks": ["medium", "small"]},
        "medium": {"backend": "a", "model": "claude-sonnet-4-5", "fallbacks": ["big"]},
        "small": {"backend": "a", "model": "claude-haiku-4-5"},
    },
}).routes


class Resp:
    def __init__(self, status):
        self.status = status
        self.headers = {}
        self.discarded = False


async def _discard(r):
    r.discarded = True


async def _no_sleep(_):
    return None


def _router(script: dict[str, list[int]]):
    sent = []

    def send_route(name: str, first: int):
        async def send():
            sent.append(name)
            return Resp(script[name].pop(0))

        return send_with_retries(send, RetryPolicy(retries=1), status_of=lambda r: (r.status, r.headers),
                                 discard=_discard, retry_on=(ConnectionError,), target=name,
                                 first_number=first, sleep=_no_sleep)

    return send_route, sent


def test_chain_is_primary_then_its_fallbacks_in_order():
    assert fallback_chain(ROUTES, "big") == ["big", "medium", "small"]
    assert fallback_chain(ROUTES, "medium") == ["medium", "big"]
    assert fallback_chain(ROUTES, "small") == ["small"]
    assert fallback_chain(ROUTES, "unknown") == ["unknown"]


async def test_529_forever_on_the_primary_moves_to_the_next_route():
    moves = []
    send_route, sent = _router({"big": [529, 529], "medium": [200], "small": []})
    route, out = await send_with_fallbacks(fallback_chain(ROUTES, "big"), send_route, discard=_discard,
                                           on_fallback=lambda a, b: moves.append((a, b)))
    assert route == "medium" and out.response.status == 200
    assert sent == ["big", "big", "medium"] and moves == [("big", "medium")]
    assert [(a.number, a.target, a.status) for a in out.attempts] == [
        (1, "big", 529), (2, "big", 529), (3, "medium", 200)]


async def test_every_route_failing_returns_the_last_answer():
    send_route, sent = _router({"big": [529, 529], "medium": [503, 503], "small": [529, 529]})
    route, out = await send_with_fallbacks(fallback_chain(ROUTES, "big"), send_route, discard=_discard)
    assert route == "small" and out.response.status == 529 and out.retryable
    assert len(out.attempts) == 6 and not out.response.discarded


async def test_a_non_retryable_error_does_not_fall_back():
    send_route, sent = _router({"big": [400], "medium": [200], "small": []})
    route, out = await send_with_fallbacks(fallback_chain(ROUTES, "big"), send_route, discard=_discard)
    assert route == "big" and out.response.status == 400 and sent == ["big"]
