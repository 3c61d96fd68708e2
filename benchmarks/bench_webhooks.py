"""Webhooks at two sizes: every delivery query on a small and a large history, and the ratio.

One embedded server, one database per size (default 1,000 and 100,000
deliveries to 20 subscriptions). Both shops deliver at the same rate (one
delivery every `INTERVAL`) and have the same backlog (40 pending, 20 held, 20
dead): what differs is how long they have run, so the large one has a hundred
times the history of delivered ones (100,000 at this rate is its 30 days of
retention). Each operation of the deliverer, the
fan-out and the admin views is timed `--calls` times per size, the sizes
taking turns call by call, next to raw PyMongo's `find_one` by `_id` on the
same collection (the server's own growth). Target: every operation within 1.5x
(point) or 2x (a page, a count of the backlog).

    python -m benchmarks.bench_webhooks [--sizes 1000 100000] [--calls 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import MongoClient
from rich.table import Table

from benchmarks.harness import console, embedded_server, save
from mongoshop._sync.shop import Shop
from mongoshop.models.common import Document
from mongoshop.models.webhooks import Attempt, DeliveryStatus, EventType
from mongoshop.settings import Settings

SUBSCRIPTIONS = 20
PENDING, HELD, DEAD = 40, 20, 20
BATCH = 5_000
BASE = datetime(2026, 1, 1, tzinfo=UTC)
INTERVAL = timedelta(seconds=26)


@dataclass
class Size:
    deliveries: int
    shop: Shop
    subscriptions: list[ObjectId]
    keys: list[str]


def delivery(n: int, age: int, subscription: ObjectId, status: str, now: datetime) -> Document:
    """Delivery `n`, made `age` intervals ago."""
    at = now - INTERVAL * age
    return {
        "_id": f"evt_{n:032x}.{subscription}",
        "event": {
            "id": f"evt_{n:032x}",
            "type": "order.placed",
            "created_at": BASE,
            "data": {"n": n},
        },
        "subscription_id": subscription,
        "object_key": f"order:{n // 2}",
        "sequence": n,
        "status": status,
        "attempts": 1,
        "available_at": at,
        "claimed_by": None,
        "last_error": None,
        "history": [{"at": BASE, "status_code": 200, "duration_ms": 12, "error": None}],
        "created_at": at,
        "finished_at": at,
    }


def populate(client: MongoClient[Document], settings: Settings, size: int) -> Size:
    name = f"bench_webhooks_{size}"
    client.drop_database(name)
    shop = Shop(client[name], settings.model_copy(update={"mongodb_database": name}))
    shop.ensure_indexes()
    now = datetime.now(UTC)
    subscriptions = [ObjectId() for _ in range(SUBSCRIPTIONS)]
    client[name].webhook_subscriptions.insert_many(
        [
            {
                "_id": s,
                "url": f"https://hooks{n}.example/in",
                "event_types": [list(EventType)[n % len(EventType)].value],
                "secret": "whsec_x",
                "status": "active",
                "consecutive_dead": 0,
                "created_at": BASE,
                "updated_at": BASE,
            }
            for n, s in enumerate(subscriptions)
        ]
    )
    backlog = PENDING + HELD + DEAD
    statuses = ["pending"] * PENDING + ["held"] * HELD + ["dead"] * DEAD
    collection = client[name].webhook_deliveries
    batch: list[Document] = []
    keys = []
    for n in range(size):
        # The backlog is the newest deliveries; everything before it was delivered.
        status = statuses[n - (size - backlog)] if n >= size - backlog else "delivered"
        document = delivery(n, size - 1 - n, subscriptions[n % SUBSCRIPTIONS], status, now)
        if status == "pending":
            shop.repositories.webhook_deliveries.line.place([document])  # in line
        keys.append(document["_id"])
        batch.append(document)
        if len(batch) == BATCH:
            collection.insert_many(batch, ordered=False)
            batch = []
    if batch:
        collection.insert_many(batch, ordered=False)
    return Size(size, shop, subscriptions, keys)


Operation = Callable[[Size], Any]
ATTEMPT = Attempt(at=BASE, status_code=200, duration_ms=10)


def claim_and_release(size: Size) -> Any:
    deliveries = size.shop.repositories.webhook_deliveries
    claimed = deliveries.claim("bench", datetime.now(UTC), timedelta(seconds=60))
    assert claimed is not None
    # put it back, so every call finds the same backlog (untimed would be nicer; it is
    # one point update by _id, the same at both sizes)
    deliveries.line.reline([{"_id": claimed.key}])
    return claimed


def release_held(size: Size) -> Any:
    released = size.shop.repositories.webhook_deliveries.release_held(
        size.subscriptions, datetime.now(UTC)
    )
    assert released == HELD
    return released


def hold_again(size: Size) -> None:
    """Untimed: the same held backlog for the next call."""
    for key in size.keys[-HELD - DEAD : -DEAD]:
        size.shop.repositories.webhook_deliveries.collection.update_one(
            {"_id": key}, {"$set": {"status": "held"}, "$unset": {"place": ""}}
        )


def deep_key(size: Size, subscription: int) -> str:
    """A delivery of that subscription 500 deep in its history (less on a small one)."""
    depth = min(500, size.deliveries // SUBSCRIPTIONS // 2)
    last = max(
        n
        for n in range(size.deliveries - SUBSCRIPTIONS, size.deliveries)
        if n % SUBSCRIPTIONS == subscription
    )
    return size.keys[last - depth * SUBSCRIPTIONS]


OPERATIONS: dict[str, tuple[str, Operation]] = {
    "claim (and put back)": ("point", claim_and_release),
    "a delivery by id": (
        "point",
        lambda s: s.shop.webhooks.delivery(s.keys[len(s.keys) // 2]),
    ),
    "mark delivered (not claimed: guard refuses)": (
        "point",
        lambda s: s.shop.repositories.webhook_deliveries.mark_delivered(
            s.keys[len(s.keys) // 3], "nobody", ATTEMPT, BASE
        ),
    ),
    "wake successors": (
        "point",
        lambda s: s.shop.repositories.webhook_deliveries.wake_successors(
            s.shop.repositories.webhook_deliveries.find_one({"_id": s.keys[-10]}),
            datetime.now(UTC),
        ),
    ),
    "release the held ones of active subscriptions": ("listing", release_held),
    "fan-out: subscriptions to a type": (
        "point",
        lambda s: s.shop.repositories.webhook_subscriptions.subscribed_to(EventType.ORDER_PLACED),
    ),
    "a subscription's newest 20": (
        "listing",
        lambda s: s.shop.webhooks.deliveries_of(s.subscriptions[3]),
    ),
    "a subscription's page 500 deep (keyset)": (
        "listing",
        lambda s: s.shop.webhooks.deliveries_of(s.subscriptions[3], after=deep_key(s, 3)),
    ),
    "a subscription's dead ones": (
        "listing",
        lambda s: s.shop.webhooks.deliveries_of(s.subscriptions[3], status=DeliveryStatus.DEAD),
    ),
    "newest dead, all subscriptions": ("listing", lambda s: s.shop.webhooks.newest_dead(20)),
    "counts (dashboard, /metrics)": ("listing", lambda s: s.shop.webhooks.counts()),
    "raw PyMongo: find_one by _id": (
        "raw",
        lambda s: s.shop.repositories.webhook_deliveries.collection.find_one(
            {"_id": s.keys[len(s.keys) // 2]}
        ),
    ),
}
TARGETS = {"point": 1.5, "listing": 2.0, "raw": None}
SETUP: dict[str, Callable[[Size], None]] = {
    "release the held ones of active subscriptions": hold_again
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1_000, 100_000])
    parser.add_argument("--calls", type=int, default=15)
    args = parser.parse_args()
    with embedded_server() as uri:
        client: MongoClient[Document] = MongoClient(uri, socketTimeoutMS=600_000)
        settings = Settings(mongodb_uri=uri, mongodb_database="unused")
        sizes = []
        for count in args.sizes:
            started = time.monotonic()
            sizes.append(populate(client, settings, count))
            console.print(f"{count:,} deliveries in {time.monotonic() - started:.0f} s")
        timings: dict[str, list[list[float]]] = {name: [[], []] for name in OPERATIONS}
        for name, (_, operation) in OPERATIONS.items():
            setup = SETUP.get(name, lambda size: None)
            for size in sizes:
                operation(size)  # warm-up
                setup(size)
            for _ in range(args.calls):
                for index, size in enumerate(sizes):
                    setup(size)
                    started = time.perf_counter()
                    operation(size)
                    timings[name][index].append(time.perf_counter() - started)
        table = Table(
            title=f"webhook queries at {args.sizes[0]:,} and {args.sizes[1]:,} deliveries"
        )
        for column in ("operation", "kind", "small ms", "large ms", "ratio", "target"):
            table.add_column(column)
        cases = []
        for name, (kind, _) in OPERATIONS.items():
            small, large = (statistics.median(t) * 1000 for t in timings[name])
            ratio = large / small
            target = TARGETS[kind]
            verdict = "" if target is None else ("ok" if ratio <= target else "MISSED")
            table.add_row(
                name,
                kind,
                f"{small:.2f}",
                f"{large:.2f}",
                f"{ratio:.2f}",
                "" if target is None else f"{target}x {verdict}",
            )
            cases.append(
                {
                    "operation": name,
                    "kind": kind,
                    "small_ms": small,
                    "large_ms": large,
                    "ratio": ratio,
                    "target": target,
                }
            )
        console.print(table)
        save("webhooks", cases)
        client.close()


if __name__ == "__main__":
    main()
