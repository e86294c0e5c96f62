"""Ctrl-C for `chat -p`: SIGINT cancels the running turn, and every wait after it has a bound.

asyncio.run's own SIGINT handling cancels the main task and turns the cancellation
back into KeyboardInterrupt at the end, which depends on every layer below (the client,
aiohttp, anyio) letting the cancellation through unchanged and promptly. Here the turn
runs as its own task: SIGINT cancels it, the caller waits at most ``grace`` seconds for
it to unwind, then goes on to save and exit whatever the task does. `run_main` replaces
asyncio.run so that leftover tasks at exit are cancelled with a bounded wait too.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any, Awaitable, Coroutine, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
GRACE = 5.0
CLEANUP = 2.0


class Interrupted(Exception):
    """SIGINT stopped the run."""


async def interruptible(coro: Coroutine[Any, Any, T], grace: float = GRACE) -> T:
    """Run ``coro`` as a task that SIGINT cancels; `Interrupted` once it ended (or ``grace`` passed)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(coro)
    hit = asyncio.Event()

    def on_sigint() -> None:
        hit.set()
        task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
        return await task
    waiter = asyncio.ensure_future(hit.wait())
    try:
        await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
        if not hit.is_set():
            return task.result()
        done, _ = await asyncio.wait([task], timeout=grace)
        if not done:
            log.debug("the interrupted turn did not stop within %.1f s; going on without it", grace)
        elif not task.cancelled() and task.exception() is not None:
            log.debug("the interrupted turn ended with an error", exc_info=task.exception())
        raise Interrupted
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        waiter.cancel()
        loop.remove_signal_handler(signal.SIGINT)


async def bounded(awaitable: Awaitable[Any], seconds: float, what: str) -> None:
    """Await ``awaitable`` for at most ``seconds``; past that it is cancelled and not waited for."""
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait([task], timeout=seconds)
    if not done:
        task.cancel()
        log.debug("%s took longer than %.1f s; not waiting for it", what, seconds)
    elif not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


def run_main(coro: Coroutine[Any, Any, T], cleanup: float = CLEANUP) -> T:
    """asyncio.run, except that tasks left at the end get ``cleanup`` seconds to finish, not forever."""
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=cleanup))
            loop.run_until_complete(asyncio.wait([loop.create_task(loop.shutdown_asyncgens())], timeout=cleanup))
        finally:
            asyncio.set_event_loop(None)
            loop.close()
