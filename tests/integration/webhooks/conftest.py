"""Fixtures of the webhook tests: a real receiver, and a shop and worker tuned to retry fast."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pymongo
import pytest
from pymongo import AsyncMongoClient

from mongoshop._async.shop import AsyncShop
from mongoshop.models.common import Document
from mongoshop.models.webhooks import EventType, SubscriptionCreated, SubscriptionRequest
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings
from mongoshop.worker.event_worker import EventWorker
from tests.conftest import DROP_TIMEOUT
from tests.integration.webhooks.receiver import Receiver

FAST = {
    "webhook_timeout_seconds": 1.0,
    "webhook_lease_seconds": 3.0,
    "webhook_retry_base_seconds": 0.1,
    "webhook_max_backoff_seconds": 2.0,
    "webhook_max_attempts": 6,
    "webhook_allow_private_targets": True,
}


@pytest.fixture
def wsettings(settings: Settings) -> Settings:
    """Retries in tenths of a second, and the receiver on loopback allowed (development)."""
    return settings.model_copy(update=FAST)


@pytest.fixture
async def wshop(
    async_client: AsyncMongoClient[Document], wsettings: Settings, hasher: PasswordHasher
) -> AsyncIterator[AsyncShop]:
    shop = AsyncShop(async_client[wsettings.mongodb_database], wsettings, hasher=hasher)
    await shop.ensure_indexes()
    yield shop
    with pymongo.timeout(DROP_TIMEOUT):
        await async_client.drop_database(wsettings.mongodb_database)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
async def worker(wshop: AsyncShop) -> AsyncIterator[EventWorker]:
    """The event worker, in this process, over `wshop`."""
    running = EventWorker(wshop)
    await running.start()
    yield running
    await running.stop(grace=5)


Subscribe = Callable[..., Awaitable[SubscriptionCreated]]


@pytest.fixture
def subscribe(wshop: AsyncShop, receiver: Receiver) -> Subscribe:
    """Subscribe the receiver (to every event type unless told), trusting its secret."""

    async def make(*types: EventType, url: str | None = None) -> SubscriptionCreated:
        created = await wshop.webhooks.create(
            SubscriptionRequest(url=url or receiver.url, event_types=list(types or EventType))
        )
        receiver.secrets.append(created.secret)
        return created

    return make


async def eventually(condition: Callable[[], Any], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
