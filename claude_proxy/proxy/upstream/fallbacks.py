"""Fallback routes: when a route still fails after its retries, try the next one.

A route in ``routes:`` may list ``fallbacks``: names of other routes, tried in the
order given when the primary's last answer is still retryable (a 529 on one model
moves the request to the next). Only the primary's own list is followed, so the
order is exactly what the settings say and a cycle cannot form.

This module knows nothing about how a route is sent: the forwarding code passes a
``send_route(name, first_attempt_number)`` that runs the retry loop for one route.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Awaitable, Callable, Mapping, TypeVar

from claude_proxy.proxy.upstream.retry import Attempt, Outcome

if TYPE_CHECKING:
    from claude_proxy.settings import RouteSettings

log = logging.getLogger(__name__)

T = TypeVar("T")


def fallback_chain(routes: Mapping[str, RouteSettings], primary: str) -> list[str]:
    """The route names to try, in order: the primary, then its fallbacks (no repeats)."""
    chain = [primary]
    route = routes.get(primary)
    for name in route.fallbacks if route is not None else []:
        if name in routes and name not in chain:
            chain.append(name)
    return chain


async def send_with_fallbacks(
    chain: list[str],
    send_route: Callable[[str, int], Awaitable[Outcome[T]]],
    *,
    discard: Callable[[T], Awaitable[None]],
    on_fallback: Callable[[str, str], None] | None = None,
) -> tuple[str, Outcome[T]]:
    """Try each route in ``chain`` until one gives a non-retryable answer.

    Returns the route that answered last and its outcome, whose ``attempts`` list
    holds every attempt made on every route, numbered across them.
    """
    attempts: list[Attempt] = []
    outcome: Outcome[T] | None = None
    for index, name in enumerate(chain):
        outcome = await send_route(name, len(attempts) + 1)
        attempts.extend(outcome.attempts)
        outcome.attempts = attempts
        if not outcome.retryable or index == len(chain) - 1:
            return name, outcome
        if outcome.response is not None:
            await discard(outcome.response)
        following = chain[index + 1]
        log.warning("route %s still failing after %d attempt(s); falling back to %s",
                    name, len(outcome.attempts), following)
        if on_fallback is not None:
            on_fallback(name, following)
    raise ValueError("empty fallback chain")
