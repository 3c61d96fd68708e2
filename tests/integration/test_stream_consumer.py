"""A change-stream consumer on the real server: one event no handler can take is retried,
then skipped and logged; the events after it are handled, and the position saved. A burst
is handled in batches, its position saved per batch."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pytest

from mongoshop._async.repositories.checkpoints import AsyncCheckpointRepository
from mongoshop._async.shop import AsyncShop
from mongoshop.models.common import Document
from mongoshop.worker.streams import (
    BATCH_SIZE,
    BATCH_WAIT_SECONDS,
    HANDLER_ATTEMPTS,
    POLL_WAIT_MS,
    StreamConsumer,
    StreamSpec,
)


@pytest.mark.parametrize("failure", ["a missing field", "a write the database refuses"])
async def test_an_event_whose_handler_keeps_failing_is_skipped_and_the_stream_goes_on(
    ashop: AsyncShop, caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    """A refusal by the database (here a validator's, code 121) is no outage: it would
    fail the same way for ever, so it is the event's failure, not the stream's (before,
    the stream retried that event for ever and handled nothing after it)."""
    database = ashop.repositories.users.collection.database
    collection = database["poison_events"]
    strict = await database.create_collection(
        "poison_effects", validator={"$jsonSchema": {"required": ["reason"]}}
    )
    attempts: dict[int, int] = {}
    handled: list[int] = []
    third = asyncio.Event()

    async def handler(change: Mapping[str, Any]) -> None:
        number = change["fullDocument"]["n"]
        attempts[number] = attempts.get(number, 0) + 1
        if number == 2:
            if failure == "a missing field":
                raise KeyError("a field this event does not have")
            await strict.insert_one({"n": number})  # no reason: refused
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


class CountingCheckpoints(AsyncCheckpointRepository):
    """The real repository, counting the saves."""

    saves = 0

    async def save(self, name: str, token: Mapping[str, Any], at: datetime) -> None:
        self.saves += 1
        await super().save(name, token, at)


async def _consume_until(
    consumer: StreamConsumer, collection: Any, documents: list[Document], done: asyncio.Event
) -> asyncio.Task[None]:
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(consumer.ready.wait(), 30)
    await collection.insert_many(documents, ordered=True)
    await asyncio.wait_for(done.wait(), 60)
    consumer.stop.request()
    await asyncio.wait_for(task, 30)
    return task


async def test_a_burst_is_handled_in_batches_its_position_saved_per_batch(
    ashop: AsyncShop,
) -> None:
    collection = ashop.repositories.users.collection.database["burst_events"]
    batches: list[list[int]] = []
    done = asyncio.Event()
    total = 3 * BATCH_SIZE + 7

    async def one(change: Mapping[str, Any]) -> None:
        raise AssertionError("a batch handler is given: events are not handled alone")

    async def many(changes: Sequence[Mapping[str, Any]]) -> None:
        batches.append([change["fullDocument"]["n"] for change in changes])
        if sum(map(len, batches)) == total:
            done.set()

    checkpoints = CountingCheckpoints(ashop.database)
    consumer = StreamConsumer(
        StreamSpec("burst-test", collection, ("insert",), one, batch=many),
        checkpoints,
    )
    await _consume_until(consumer, collection, [{"n": n} for n in range(total)], done)

    assert [n for batch in batches for n in batch] == list(range(total)), "each once, in order"
    assert max(map(len, batches)) == BATCH_SIZE
    # A save when the stream opens, one per batch, one when it stops: not one per event.
    assert checkpoints.saves == len(batches) + 2
    assert len(batches) < total / 10


async def test_a_batch_that_fails_is_handled_one_by_one_and_only_the_bad_event_skipped(
    ashop: AsyncShop,
) -> None:
    collection = ashop.repositories.users.collection.database["bad_batch_events"]
    handled: list[int] = []
    done = asyncio.Event()

    async def one(change: Mapping[str, Any]) -> None:
        number = change["fullDocument"]["n"]
        if number == 13:
            raise ValueError("this event cannot be handled")
        handled.append(number)
        if number == 29:
            done.set()

    async def many(changes: Sequence[Mapping[str, Any]]) -> None:
        if any(change["fullDocument"]["n"] == 13 for change in changes):
            raise ValueError("one event of the batch cannot be handled")
        handled.extend(change["fullDocument"]["n"] for change in changes)
        if any(change["fullDocument"]["n"] == 29 for change in changes):
            done.set()

    consumer = StreamConsumer(
        StreamSpec("bad-batch-test", collection, ("insert",), one, batch=many),
        ashop.repositories.checkpoints,
        retry_delay=0.01,
    )
    task = await _consume_until(consumer, collection, [{"n": n} for n in range(30)], done)

    assert sorted(handled) == [n for n in range(30) if n != 13]
    assert consumer.skipped == 1
    assert task.exception() is None


async def test_under_steady_traffic_a_batch_does_not_wait_for_a_hundred_events(
    ashop: AsyncShop,
) -> None:
    """An event each 0.3 s: the stream always has one more before its poll runs dry, so a
    batch that ended only when full or quiet held the first event until the hundredth.
    A batch is handled at most BATCH_WAIT_SECONDS after its first event (plus one poll)."""
    collection = ashop.repositories.users.collection.database["steady_events"]
    handled_at: dict[int, float] = {}
    done = asyncio.Event()

    async def one(change: Mapping[str, Any]) -> None:
        raise AssertionError("a batch handler is given: events are not handled alone")

    async def many(changes: Sequence[Mapping[str, Any]]) -> None:
        for change in changes:
            handled_at[change["fullDocument"]["n"]] = time.monotonic()
        if len(handled_at) == 15:
            done.set()

    consumer = StreamConsumer(
        StreamSpec("steady-test", collection, ("insert",), one, batch=many),
        ashop.repositories.checkpoints,
    )
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(consumer.ready.wait(), 30)
    inserted_at: dict[int, float] = {}
    for n in range(15):
        await collection.insert_one({"n": n})
        inserted_at[n] = time.monotonic()
        await asyncio.sleep(0.3)
    await asyncio.wait_for(done.wait(), 30)
    consumer.stop.request()
    await asyncio.wait_for(task, 30)

    assert sorted(handled_at) == list(range(15))
    assert handled_at[0] < inserted_at[14], "the first event waited for the traffic to stop"
    waits = [handled_at[n] - inserted_at[n] for n in range(15)]
    bound = BATCH_WAIT_SECONDS + POLL_WAIT_MS / 1000 + 1.0  # + slack for a busy machine
    assert max(waits) < bound, waits
