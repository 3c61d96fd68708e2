"""The deliverer's periodic release of held deliveries does not read a paused subscription's
backlog (issue 21: every deliverer read every held delivery every 10 s: 1 s per call at
20,000, 5 s at 50,000).

A regression guard, not a benchmark: the same release with 50 and with 5,000 deliveries
held for a paused subscription, within a wide ratio; a release that reads them fails it by
far (its cost would grow a hundredfold).
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

from bson import ObjectId

from mongoshop._async.shop import AsyncShop
from mongoshop.clock import utcnow
from mongoshop.models.common import Document
from tests.integration.webhooks.conftest import Subscribe

RATIO = 3.0
FLOOR_MS = 2.0
RUNS = 7


def held(subscription_id: str, count: int, tag: str) -> list[Document]:
    now = utcnow()
    return [
        {
            "_id": f"evt_{tag}{n:028x}.{subscription_id}",
            "event": {
                "id": f"evt_{tag}{n:028x}",
                "type": "order.placed",
                "created_at": now,
                "data": {},
            },
            "subscription_id": ObjectId(subscription_id),
            "object_key": f"order:{tag}{n}",
            "sequence": n,
            "status": "held",
            "attempts": 0,
            "available_at": now,
            "claimed_by": None,
            "history": [],
            "created_at": now - timedelta(seconds=n),
            "finished_at": None,
        }
        for n in range(count)
    ]


async def release_time(wshop: AsyncShop, active: str) -> float:
    """Median milliseconds of releasing the active subscription's two held deliveries."""
    deliveries = wshop.repositories.webhook_deliveries
    times = []
    for _ in range(RUNS):
        await deliveries.collection.update_many(
            {"subscription_id": ObjectId(active)}, {"$set": {"status": "held"}}
        )
        started = time.perf_counter()
        released = await deliveries.release_held([ObjectId(active)])
        times.append((time.perf_counter() - started) * 1000)
        assert released == 2
    return max(statistics.median(times), FLOOR_MS)


async def test_releasing_held_deliveries_does_not_read_a_paused_subscriptions_backlog(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    active, paused = (await subscribe()).id, (await subscribe()).id
    deliveries = wshop.repositories.webhook_deliveries
    await deliveries.enqueue_many(held(active, 2, "a"))
    await deliveries.enqueue_many(held(paused, 50, "p"))
    small = await release_time(wshop, active)
    for start in range(50, 5_000, 1_000):
        batch = held(paused, min(start + 1_000, 5_000), "p")[start:]
        await deliveries.enqueue_many(batch)
    assert await deliveries.count({"status": "held", "subscription_id": ObjectId(paused)}) == 5_000
    large = await release_time(wshop, active)
    assert large <= small * RATIO, (
        f"release_held: {large:.1f} ms with 5,000 held for a paused subscription,"
        f" {small:.1f} ms with 50: it reads the paused subscription's backlog"
    )
