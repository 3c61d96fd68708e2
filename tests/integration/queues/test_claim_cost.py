"""The regression guard of issue 20: a queue's claim costs the same at any backlog.

Each queue is filled twice, with a backlog of 50 and of 5,000 items in line,
as many waiting out of it for a retry (a back-off not over) and as many done.
Then the step a worker repeats while draining (claim, record, and the sweep
it runs each second) is timed on both, call by call in turn, so that load
from the other test tiers slows both alike. A claim that reads the backlog
(the old sort by `available_at`, O(n) per item) fails this by far; the margin
is wide so that it does not flake.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient

from mongoshop._sync.repositories.line import due
from mongoshop._sync.shop import Shop
from mongoshop.clock import utcnow
from mongoshop.mail.documents import outbox_document
from mongoshop.models.common import Document
from mongoshop.models.mail import MailKind, MailStatus
from mongoshop.models.webhooks import Attempt, DeliveryStatus
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings
from tests.conftest import drop_large_database, new_database_name

SMALL = 50
LARGE = 5_000
RATIO = 3.0
FLOOR_MS = 2.0
RUNS = 30
LEASE = timedelta(minutes=5)


def _mail(n: int, status: MailStatus) -> Document:
    email = f"reader{n}@example.com"
    document = outbox_document(
        MailKind.WELCOME, ObjectId(), email, None, {"name": "Reader", "email": email}
    )
    document["status"] = status.value
    return document


def _delivery(n: int, subscription: ObjectId, status: DeliveryStatus) -> Document:
    now = utcnow()
    return {
        "_id": f"evt_{n:032x}.{subscription}",
        "event": {
            "id": f"evt_{n:032x}",
            "type": "order.placed",
            "created_at": now,
            "data": {"order_id": str(ObjectId())},
        },
        "subscription_id": subscription,
        "object_key": f"order:{n}",
        "sequence": n,
        "status": status.value,
        "attempts": 0,
        "available_at": now,
        "claimed_by": None,
        "last_error": None,
        "history": [],
        "created_at": now,
        "finished_at": None,
    }


def _fill(shop: Shop, size: int) -> None:
    """`size` items in line, `size` waiting for a retry, `size` done, in each queue."""
    outbox, deliveries = shop.repositories.outbox, shop.repositories.webhook_deliveries
    subscription = ObjectId()
    later = utcnow() + timedelta(hours=1)
    for start in range(0, size, 1_000):
        numbers = range(start, min(size, start + 1_000))
        outbox.enqueue_many([_mail(n, MailStatus.PENDING) for n in numbers])
        outbox.enqueue_many([_mail(size + n, MailStatus.SENT) for n in numbers])
        waiting = [_mail(2 * size + n, MailStatus.PENDING) for n in numbers]
        outbox.collection.insert_many([{**w, **due(later)} for w in waiting])
        pending = DeliveryStatus.PENDING
        deliveries.enqueue_many([_delivery(n, subscription, pending) for n in numbers])
        done = [_delivery(size + n, subscription, DeliveryStatus.DELIVERED) for n in numbers]
        deliveries.enqueue_many(done)
        waiting = [_delivery(2 * size + n, subscription, pending) for n in numbers]
        deliveries.collection.insert_many([{**w, **due(later)} for w in waiting])


def _send_mail(shop: Shop) -> Any:
    outbox = shop.repositories.outbox
    claimed = outbox.claim("guard", utcnow(), LEASE)
    assert claimed is not None
    assert outbox.mark_sent(claimed.key, "guard", utcnow())


def _deliver(shop: Shop) -> Any:
    deliveries = shop.repositories.webhook_deliveries
    claimed = deliveries.claim("guard", utcnow(), LEASE)
    assert claimed is not None
    attempt = Attempt(at=utcnow(), status_code=200, duration_ms=1)
    assert deliveries.mark_delivered(claimed.key, "guard", attempt, utcnow() + timedelta(days=1))
    deliveries.wake_successors(claimed, utcnow())


def _sweep(shop: Shop) -> Any:
    shop.repositories.outbox.sweep(utcnow())
    shop.repositories.webhook_deliveries.sweep(utcnow())


STEPS: dict[str, Callable[[Shop], Any]] = {
    "mail: claim and record": _send_mail,
    "webhooks: claim, record, wake the successors": _deliver,
    "the sweep of both queues": _sweep,
}


@pytest.fixture(scope="module")
def queues(
    sync_client: MongoClient[Document], base_settings: Settings, hasher: PasswordHasher
) -> Iterator[dict[int, Shop]]:
    names = {size: new_database_name("test_queue") for size in (SMALL, LARGE)}
    shops = {}
    try:
        for size, name in names.items():
            settings = base_settings.model_copy(update={"mongodb_database": name})
            shop = Shop(sync_client[name], settings, hasher=hasher)
            shop.ensure_indexes()
            _fill(shop, size)
            shops[size] = shop
        yield shops
    finally:
        for name in names.values():
            drop_large_database(sync_client, name)


@pytest.mark.parametrize("name", STEPS)
def test_a_step_of_the_drain_costs_the_same_at_a_backlog_a_hundred_times_larger(
    name: str, queues: dict[int, Shop]
) -> None:
    step = STEPS[name]
    times: dict[int, list[float]] = {SMALL: [], LARGE: []}
    for _ in range(RUNS):
        for size, shop in queues.items():
            start = time.perf_counter()
            step(shop)
            times[size].append((time.perf_counter() - start) * 1000)
    small, large = statistics.median(times[SMALL]), statistics.median(times[LARGE])

    assert large <= RATIO * max(small, FLOOR_MS), (
        f"{name}: {large:.1f} ms at a backlog of {LARGE}, {small:.1f} ms at {SMALL}"
    )
