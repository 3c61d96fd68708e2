"""Stopping loops at a safe point instead of cancelling them: no database."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from mongoshop.worker.graceful import StopRequest, stop_loops


async def test_a_stop_request_ends_a_sleep_early() -> None:
    stop = StopRequest()
    started = time.monotonic()
    asyncio.get_running_loop().call_later(0.05, stop.request)
    await stop.sleep(10)
    assert time.monotonic() - started < 1
    assert stop.requested


async def test_loops_finish_the_work_in_hand_before_they_stop() -> None:
    stop = StopRequest()
    finished: list[int] = []

    async def loop() -> None:
        unit = 0
        while not stop.requested:
            await asyncio.sleep(0.2)  # a unit of work, not to be cut in half
            finished.append(unit)
            unit += 1

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.05)
    assert await stop_loops([task], [stop], grace=5) == 0
    assert finished == [0]
    assert task.done()
    assert not task.cancelled()


async def test_a_loop_that_ignores_the_request_is_cancelled_after_the_grace() -> None:
    async def stubborn() -> None:
        await asyncio.sleep(60)

    task = asyncio.create_task(stubborn(), name="stubborn")
    started = time.monotonic()
    assert await stop_loops([task], [StopRequest()], grace=0.2) == 1
    assert task.cancelled()
    assert time.monotonic() - started < 5


async def test_a_cancellation_swallowed_below_is_raised_again() -> None:
    """A retry loop that catches what a lost cancellation became still stops."""
    from mongoshop.worker.graceful import raise_if_cancelled

    started = asyncio.Event()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            started.set()
            # What asyncio.wait_for can do on Python 3.11: the cancellation is lost.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.01)
            raise_if_cancelled()

    task = asyncio.create_task(loop())
    await started.wait()
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
