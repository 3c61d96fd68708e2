"""Issue 21 #4: a receiver that never answers must not hold up every other subscription.

Before, a worker had one deliverer by default: each attempt to the hanging endpoint
held it for the whole timeout, and a healthy endpoint's events waited behind it
(its 6th event arrived after 61 s). Now a worker runs several deliverers and gives
one subscription at most MONGOSHOP_WEBHOOK_PER_SUBSCRIPTION of them, so the healthy
one is served by the others while the hanging one times out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pymongo
import pytest
from pymongo import AsyncMongoClient

from mongoshop._async.shop import AsyncShop
from mongoshop.models.common import Document
from mongoshop.models.orders import OrderItemRequest, OrderRequest
from mongoshop.models.webhooks import EventType, SubscriptionRequest
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings
from mongoshop.worker.event_worker import EventWorker
from tests.conftest import DROP_TIMEOUT
from tests.integration.helpers import Customers, Products
from tests.integration.webhooks.conftest import eventually
from tests.integration.webhooks.receiver import Receiver

TIMEOUT = 8.0
"""The webhook timeout here: what each attempt to the hanging receiver holds a deliverer."""
ORDERS = 6


@pytest.fixture
def hanging() -> Iterator[Receiver]:
    server = Receiver(lambda event_id, before: "hang:30").start()
    yield server
    server.stop()


@pytest.fixture
def healthy() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
async def hshop(
    async_client: AsyncMongoClient[Document], wsettings: Settings, hasher: PasswordHasher
) -> AsyncIterator[AsyncShop]:
    """The shop with the default number of deliverers, and a webhook timeout long enough
    that waiting behind it shows."""
    settings = wsettings.model_copy(
        update={
            "webhook_timeout_seconds": TIMEOUT,
            "webhook_lease_seconds": 3 * TIMEOUT,
            "webhook_deliverers": Settings.model_fields["webhook_deliverers"].default,
        }
    )
    shop = AsyncShop(async_client[settings.mongodb_database], settings, hasher=hasher)
    await shop.ensure_indexes()
    yield shop
    with pymongo.timeout(DROP_TIMEOUT):
        await async_client.drop_database(settings.mongodb_database)


async def test_a_hanging_endpoint_does_not_hold_up_a_healthy_one(
    hshop: AsyncShop, hanging: Receiver, healthy: Receiver
) -> None:
    for receiver in (hanging, healthy):
        created = await hshop.webhooks.create(
            SubscriptionRequest(url=receiver.url, event_types=[EventType.ORDER_PLACED])
        )
        receiver.secrets.append(created.secret)
    buyer = await Customers(hshop).one(balance=1_000_000)
    product = await Products(hshop).create(quantity=100)
    worker = EventWorker(hshop)
    await worker.start()
    try:
        placed_at: dict[str, float] = {}
        for _ in range(ORDERS):
            order, _ = await hshop.orders.place(
                buyer.user,
                OrderRequest(items=[OrderItemRequest(product_id=str(product.id), quantity=1)]),
            )
            placed_at[str(order.id)] = time.monotonic()
            await asyncio.sleep(0.5)
        await eventually(
            lambda: len(healthy.accepted()) == ORDERS, 4 * TIMEOUT, "the healthy endpoint's events"
        )
    finally:
        await worker.stop(grace=1)
    waits = {
        arrival.body["data"]["id"]: arrival.at - placed_at[arrival.body["data"]["id"]]
        for arrival in healthy.accepted()
    }
    assert set(waits) == set(placed_at)
    assert hanging.snapshot(), "the hanging endpoint was tried meanwhile"
    # Each healthy event arrives well within one attempt's timeout of its order: none
    # waited behind an attempt to the hanging endpoint.
    assert max(waits.values()) < TIMEOUT / 2, waits
