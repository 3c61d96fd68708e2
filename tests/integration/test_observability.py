"""Command monitoring, stream lag and the outbox gauge against the real server.

The clients here come from the same factories as the app's (`create_async_client`,
`create_sync_client`), so they carry the same `CommandMonitor`; only the slow
threshold is set to 0 ms, which makes every command "slow" and so logged at
WARNING with its fields.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError, OperationFailure

from mongoshop._async.shop import AsyncShop
from mongoshop.clock import utcnow
from mongoshop.db import create_async_client, create_sync_client
from mongoshop.mail.documents import outbox_document
from mongoshop.models.common import Document
from mongoshop.models.mail import MailKind, MailStatus
from mongoshop.observability import Metrics, context
from mongoshop.observability.logs import JsonFormatter
from mongoshop.settings import Settings
from mongoshop.worker.streams import StreamConsumer, StreamSpec


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.guard:
            self.records.append(record)

    def of(self, request_id: str) -> list[logging.LogRecord]:
        with self.guard:
            return [r for r in self.records if getattr(r, "request_id", None) == request_id]


@pytest.fixture
def command_log() -> Iterator[Records]:
    logger = logging.getLogger("mongoshop.db.commands")
    handler = Records()
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def monitored(
    mongodb_uri: str, settings: Settings, metrics: Metrics
) -> AsyncIterator[AsyncMongoClient[Document]]:
    """An async client from the app's factory, every command slow, latency into `metrics`."""
    client = create_async_client(
        mongodb_uri,
        settings.model_copy(update={"slow_command_ms": 0.0}),
        command_latency=metrics.command_duration,
    )
    yield client
    await client.drop_database(settings.mongodb_database)
    await client.close()


async def in_request(request_id: str, work: Any) -> Any:
    """Run the coroutine `work` as a server runs a request: a task whose context has the id."""

    async def run() -> Any:
        context.request_id.set(request_id)
        return await work

    return await asyncio.create_task(run())


async def test_a_requests_commands_are_logged_with_its_id_and_fields_but_no_values(
    monitored: AsyncMongoClient[Document],
    settings: Settings,
    command_log: Records,
    metrics: Metrics,
) -> None:
    users = monitored[settings.mongodb_database]["users"]
    needle = f"needle-{uuid.uuid4().hex}@example.com"
    request_id = f"req-{uuid.uuid4().hex[:8]}"

    async def work() -> Document | None:
        await users.insert_one({"email": needle, "name": "Needle Person"})
        return await users.find_one({"email": needle})

    started = time.perf_counter()
    found = await in_request(request_id, work())
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert found is not None

    records = command_log.of(request_id)
    assert [r.command for r in records] == ["insert", "find"]  # type: ignore[attr-defined]
    for record in records:
        assert record.levelno == logging.WARNING
        assert record.database == settings.mongodb_database  # type: ignore[attr-defined]
        assert record.collection == "users"  # type: ignore[attr-defined]
        # The command's own time: within what the whole request took, not a clock's value.
        assert 0 < record.duration_ms <= elapsed_ms  # type: ignore[attr-defined]
        assert record.outcome == "ok"  # type: ignore[attr-defined]
        line = JsonFormatter().format(record)
        assert json.loads(line)["request_id"] == request_id
        assert needle not in line
        assert "Needle Person" not in line
        assert needle not in record.getMessage()
    count = metrics.registry.get_sample_value(
        "mongoshop_db_command_duration_seconds_count", {"command": "find"}
    )
    assert count is not None
    assert count >= 1


async def test_concurrent_requests_each_see_their_own_id_in_their_commands(
    monitored: AsyncMongoClient[Document], settings: Settings, command_log: Records
) -> None:
    database = monitored[settings.mongodb_database]
    ids = {f"coll{n}": f"req-{n}-{uuid.uuid4().hex[:6]}" for n in range(8)}

    async def work(collection: str) -> None:
        for _ in range(3):
            await database[collection].find_one({"n": 1})
            await asyncio.sleep(0)

    await asyncio.gather(*(in_request(ids[name], work(name)) for name in ids))
    for name, request_id in ids.items():
        records = command_log.of(request_id)
        assert len(records) == 3
        assert {r.collection for r in records} == {name}  # type: ignore[attr-defined]


def test_the_sync_face_logs_commands_with_the_id_of_the_thread_that_runs_them(
    mongodb_uri: str, settings: Settings, command_log: Records
) -> None:
    client = create_sync_client(mongodb_uri, settings.model_copy(update={"slow_command_ms": 0.0}))
    database = client[settings.mongodb_database]

    def work(n: int) -> str:
        request_id = f"job-{n}-{uuid.uuid4().hex[:6]}"
        context.request_id.set(request_id)  # each pool thread has a context of its own
        database[f"sync{n}"].insert_one({"n": n})
        database[f"sync{n}"].count_documents({"n": n})
        context.request_id.set(None)
        return request_id

    try:
        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(work, range(4)))
        for n, request_id in enumerate(ids):
            records = command_log.of(request_id)
            assert [r.command for r in records] == ["insert", "aggregate"]  # type: ignore[attr-defined]
            assert {r.collection for r in records} == {f"sync{n}"}  # type: ignore[attr-defined]
    finally:
        client.drop_database(settings.mongodb_database)
        client.close()


async def test_with_the_default_threshold_quick_commands_are_not_warnings(
    mongodb_uri: str, settings: Settings, command_log: Records
) -> None:
    client = create_async_client(mongodb_uri, settings)
    try:
        request_id = f"req-{uuid.uuid4().hex[:8]}"
        await in_request(request_id, client.admin.command("ping"))
        assert all(r.levelno < logging.WARNING for r in command_log.of(request_id))
    finally:
        await client.close()


async def test_a_refused_write_or_failed_command_is_logged_with_its_code_only(
    monitored: AsyncMongoClient[Document], settings: Settings, command_log: Records
) -> None:
    users = monitored[settings.mongodb_database]["dupes"]
    secret = f"dup-{uuid.uuid4().hex}"
    await users.insert_one({"_id": secret})
    request_id = f"req-{uuid.uuid4().hex[:8]}"
    with pytest.raises(DuplicateKeyError):
        await in_request(request_id, users.insert_one({"_id": secret}))
    (failed,) = command_log.of(request_id)
    assert failed.outcome == "failed"  # type: ignore[attr-defined]
    assert failed.error_code in {"DuplicateKey", "11000"}  # type: ignore[attr-defined]
    assert secret not in JsonFormatter().format(failed)

    request_id = f"req-{uuid.uuid4().hex[:8]}"
    with pytest.raises(OperationFailure):
        await in_request(request_id, users.find_one({"_id": {"$noSuchOperator": secret}}))
    (failed,) = command_log.of(request_id)
    assert failed.outcome == "failed"  # type: ignore[attr-defined]
    assert failed.error_code  # type: ignore[attr-defined]
    assert secret not in JsonFormatter().format(failed)


async def test_an_idle_change_stream_polls_are_not_slow_commands_and_its_lag_stays_small(
    ashop: AsyncShop, mongodb_uri: str, settings: Settings, command_log: Records
) -> None:
    client = create_async_client(mongodb_uri, settings)  # default threshold (100 ms)
    collection = client[settings.mongodb_database]["lagged"]
    handled: list[Mapping[str, Any]] = []

    async def handle(change: Mapping[str, Any]) -> None:
        handled.append(change)

    consumer = StreamConsumer(
        StreamSpec("lag-test", collection, ("insert",), handle, checkpointed=False),
        ashop.repositories.checkpoints,
    )
    task = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(consumer.ready.wait(), 15)
        await async_wait_for(lambda: consumer.caught_up_to is not None, 10, "a first empty poll")
        first = consumer.caught_up_to
        await async_wait_for(
            lambda: consumer.caught_up_to is not None and consumer.caught_up_to > first,  # type: ignore[operator]
            10,
            "a later empty poll (the heartbeat of an idle stream)",
        )
        lag = consumer.lag_seconds(utcnow())
        assert lag is not None
        assert lag < 5

        await collection.insert_one({"x": 1})
        await async_wait_for(lambda: len(handled) == 1, 10, "the insert to be handled")
        lag = consumer.lag_seconds(utcnow())
        assert lag is not None
        assert lag < 5
        polls = [r for r in command_log.records if getattr(r, "command", None) == "getMore"]
        assert all(r.levelno < logging.WARNING for r in polls), "a poll's wait is not slowness"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.close()


async def test_the_outbox_gauge_counts_by_status_from_the_database(
    ashop: AsyncShop, metrics: Metrics
) -> None:
    outbox = ashop.repositories.outbox
    for n in range(5):
        await outbox.enqueue(
            outbox_document(MailKind.WELCOME, ObjectId(), f"g{n}@example.com", None, {"name": "G"})
        )
    await outbox.collection.update_many(
        {"to": {"$in": ["g0@example.com", "g1@example.com"]}},
        {"$set": {"status": MailStatus.SENT.value}},
    )
    await outbox.collection.update_one(
        {"to": "g2@example.com"}, {"$set": {"status": MailStatus.FAILED.value}}
    )
    await metrics.refresh_outbox(ashop.mail.counts)
    gauge = "mongoshop_mail_outbox_items"
    sample = metrics.registry.get_sample_value
    assert sample(gauge, {"status": "pending"}) == 2
    assert sample(gauge, {"status": "sent"}) == 2
    assert sample(gauge, {"status": "failed"}) == 1


async def async_wait_for(condition: Any, seconds: float, message: str) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {seconds:.0f}s: {message}")
