"""The queues' loop: whatever goes wrong with one step or one chore, the loop goes on."""

from __future__ import annotations

import asyncio
import logging

import pytest

from mongoshop.worker.draining import drain
from mongoshop.worker.graceful import StopRequest


async def test_a_chore_that_always_fails_does_not_keep_the_items_waiting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before, chores and step shared one `try`: a sweep that failed every time (a
    document it cannot handle) meant no item was ever dealt with again."""
    stop = StopRequest()
    steps = 0

    async def chores() -> None:
        raise ValueError("a document the sweep cannot handle")

    async def step() -> bool:
        nonlocal steps
        steps += 1
        if steps == 3:
            stop.request()
        return True

    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(drain("deliverer", step, chores, stop, idle_delay=0.01), 5)
    assert steps == 3
    assert caplog.text.count("a chore failed") == 3


async def test_a_step_that_fails_unexpectedly_is_logged_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = StopRequest()
    steps = 0

    async def chores() -> None:
        return None

    async def step() -> bool:
        nonlocal steps
        steps += 1
        if steps == 1:
            raise KeyError("a field an item does not have")
        stop.request()
        return True

    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(drain("sender", step, chores, stop, idle_delay=0.01), 5)
    assert steps == 2
    assert "sender failed; going on" in caplog.text
