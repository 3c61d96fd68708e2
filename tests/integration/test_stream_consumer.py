"""A change-stream consumer on the real server: one event no handler can take is retried,
then skipped and logged; the events after it are handled, and the position saved."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from mongoshop._async.shop import AsyncShop
from mongoshop.streams.consumer import HANDLER_ATTEMPTS, StreamConsumer, StreamSpec


async def test_an_event_whose_handler_keeps_failing_is_skipped_and_the_stream_goes_on(
    ashop: AsyncShop, caplog: pytest.LogCaptureFixture
) -> None:
    collection = ashop.repositories.users.collection.database["poison_events"]
    attempts: dict[int, int] = {}
    handled: list[int] = []
    third = asyncio.Event()

    async def handler(change: Mapping[str, Any]) -> None:
        number = change["fullDocument"]["n"]
        attempts[number] = attempts.get(number, 0) + 1
        if number == 2:
            raise KeyError("a field this event does not have")
        handled.append(number)
        if number == 3:
            third.set()

    consumer = StreamConsumer(
        StreamSpec("poison-test", collection, ("insert",), handler, checkpointed=True),
        ashop.repositories.checkpoints,
        retry_delay=0.01,
    )
    task = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(consumer.ready.wait(), 30)
        with caplog.at_level(logging.WARNING):
            await collection.insert_many([{"n": n} for n in (1, 2, 3)], ordered=True)
            await asyncio.wait_for(third.wait(), 30)
    finally:
        consumer.stop.request()
        await asyncio.wait_for(task, 30)
    assert attempts == {1: 1, 2: HANDLER_ATTEMPTS, 3: 1}
    assert consumer.skipped == 1
    assert "skipping the event" in caplog.text
    assert handled == [1, 3]
    assert not task.cancelled()
    assert task.exception() is None  # the loop never ended
    saved = await ashop.repositories.checkpoints.load("poison-test")
    assert saved is not None
    assert saved.resume_token == consumer.token
