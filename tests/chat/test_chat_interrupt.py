"""SIGINT during `chat -p`: the turn stops, and no wait after it is unbounded, even if a layer swallows cancellation."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from claude_proxy.chat.interrupt import Interrupted, bounded, interruptible, run_main


async def _stubborn(log: list[str]) -> str:
    """A task that swallows its cancellation, as a misbehaving network layer might."""
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            log.append("swallowed")


async def _interrupt_soon() -> None:
    await asyncio.sleep(0.1)
    os.kill(os.getpid(), signal.SIGINT)


def test_sigint_stops_a_turn_that_swallows_its_cancellation_within_the_grace() -> None:
    log: list[str] = []

    async def main() -> str:
        asyncio.ensure_future(_interrupt_soon())
        try:
            await interruptible(_stubborn(log), grace=0.5)
        except Interrupted:
            return "interrupted"
        return "finished"

    started = time.monotonic()
    assert run_main(main(), cleanup=0.5) == "interrupted"
    assert log, "the task was cancelled (and ignored it)"
    assert time.monotonic() - started < 3, "grace and cleanup both bounded the wait"


def test_sigint_cancels_a_well_behaved_turn_at_once() -> None:
    async def main() -> float:
        asyncio.ensure_future(_interrupt_soon())
        started = time.monotonic()
        with pytest.raises(Interrupted):
            await interruptible(asyncio.sleep(3600), grace=10)
        return time.monotonic() - started

    assert run_main(main()) < 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "the handler is given back"


def test_a_finished_turn_returns_its_value_and_bounded_reraises_errors() -> None:
    async def fails() -> None:
        raise OSError("disk full")

    async def main() -> int:
        with pytest.raises(OSError, match="disk full"):
            await bounded(fails(), 1, "saving")
        await bounded(asyncio.sleep(3600), 0.1, "a hang")
        return await interruptible(asyncio.sleep(0, result=42))

    assert run_main(main()) == 42
