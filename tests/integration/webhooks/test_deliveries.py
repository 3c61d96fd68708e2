"""The delivery collection on the real server: dedup, claims, per-object order, pages."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from bson import ObjectId

from mongoshop._async.shop import AsyncShop
from mongoshop._sync.shop import Shop
from mongoshop.clock import utcnow
from mongoshop.models.webhooks import (
    Attempt,
    DeliveryStatus,
    EventType,
    SubscriptionRequest,
    WebhookEvent,
    event_id,
)
from mongoshop.webhooks.events import Occurrence
from tests.integration.webhooks.conftest import Subscribe

LEASE = timedelta(seconds=30)


def deliverer_of(wshop: AsyncShop, client: Any, **options: Any) -> Any:
    """A deliverer of `wshop`'s deliveries through `client` (its settings unless given)."""
    from mongoshop.worker.webhook_deliverer import WebhookDeliverer

    settings = options.pop("settings", wshop.settings)
    repositories = wshop.repositories
    return WebhookDeliverer(
        repositories.webhook_subscriptions,
        repositories.webhook_deliveries,
        client,
        settings,
        **options,
    )


def occurrence(kind: EventType, object_key: str, sequence: int, at_offset: float = 0) -> Occurrence:
    return Occurrence(
        WebhookEvent(
            id=event_id(kind, object_key, str(sequence)),
            type=kind,
            created_at=utcnow() + timedelta(seconds=at_offset),
            data={"sequence": sequence},
        ),
        object_key,
        sequence,
    )


async def test_the_same_event_twice_makes_one_delivery_and_a_later_subscription_none(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    await subscribe(EventType.ORDER_PLACED)
    placed = occurrence(EventType.ORDER_PLACED, "order:1", 1, at_offset=1)
    assert await wshop.webhooks.publish([placed]) == 1
    assert await wshop.webhooks.publish([placed]) == 0, "seen again: nothing new"
    later = await subscribe(EventType.ORDER_PLACED)
    await wshop.repositories.webhook_subscriptions.update(
        {"_id": ObjectId(later.id)}, {"$set": {"created_at": utcnow() + timedelta(minutes=1)}}
    )  # created after the event happened: it does not get it
    assert await wshop.webhooks.publish([placed]) == 0
    other = occurrence(EventType.ORDER_CANCELLED, "order:1", 2)
    assert await wshop.webhooks.publish([other]) == 0, "nobody subscribed to it"


async def test_racing_claims_never_take_one_delivery_twice(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    await subscribe(EventType.ORDER_PLACED)
    await wshop.webhooks.publish(
        [occurrence(EventType.ORDER_PLACED, f"order:{n}", n, at_offset=1) for n in range(12)]
    )
    deliveries = wshop.repositories.webhook_deliveries
    claimed = await asyncio.gather(
        *(
            deliveries.claim(f"deliverer-{n}", utcnow() + timedelta(seconds=2), LEASE)
            for n in range(16)
        )
    )
    keys = [c.key for c in claimed if c is not None]
    assert len(keys) == len(set(keys)), "no delivery went to two deliverers"
    # A claimer that lost every candidate it looked at got None; the rest are still there.
    later = utcnow() + timedelta(seconds=2)
    while (more := await deliveries.claim("late", later, LEASE)) is not None:
        keys.append(more.key)
    assert len(keys) == len(set(keys)) == 12


async def test_an_objects_later_event_waits_for_the_earlier_one_and_is_woken_after_it(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    await subscribe(EventType.ORDER_PLACED, EventType.ORDER_CANCELLED)
    placed = occurrence(EventType.ORDER_PLACED, "order:7", 10, at_offset=1)
    cancelled = occurrence(EventType.ORDER_CANCELLED, "order:7", 20, at_offset=1)
    await wshop.webhooks.publish([placed, cancelled])
    deliveries = wshop.repositories.webhook_deliveries
    now = utcnow()
    first = await deliveries.claim("a", now, LEASE)
    assert first is not None
    assert first.event.type is EventType.ORDER_PLACED
    # While `placed` is in flight, `cancelled` is not handed out: it waits for its lease.
    assert await deliveries.claim("b", now, LEASE) is None
    [waiting] = await deliveries.find_many({"event.type": "order.cancelled"})
    assert waiting.available_at >= now + LEASE - timedelta(milliseconds=5)
    # Delivered: the later one is due at once.
    done = utcnow()
    assert await deliveries.mark_delivered(
        first.key, "a", Attempt(at=done, status_code=200, duration_ms=3), done + timedelta(days=1)
    )
    assert await deliveries.wake_successors(first, done) == 1
    second = await deliveries.claim("b", utcnow(), LEASE)
    assert second is not None
    assert second.event.type is EventType.ORDER_CANCELLED


async def test_a_redriven_earlier_delivery_never_wakes_a_later_one_in_flight(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    """Issue 21: the earlier event died, the later one went out; the earlier one is
    redriven and delivered while the later one is still being sent. Waking the later one
    then would hand it to a second deliverer at once: the same event sent twice."""
    await subscribe(EventType.ORDER_PLACED, EventType.ORDER_CANCELLED)
    placed = occurrence(EventType.ORDER_PLACED, "order:9", 10, at_offset=1)
    cancelled = occurrence(EventType.ORDER_CANCELLED, "order:9", 20, at_offset=1)
    await wshop.webhooks.publish([placed, cancelled])
    deliveries = wshop.repositories.webhook_deliveries
    now = utcnow()
    earlier = await deliveries.claim("a", now, LEASE)
    assert earlier is not None
    assert await deliveries.mark_dead(
        earlier.key, "a", Attempt(at=now, status_code=410, duration_ms=2)
    )
    later = await deliveries.claim("b", utcnow(), LEASE)  # in flight from here on
    assert later is not None
    assert later.event.type is EventType.ORDER_CANCELLED

    assert await deliveries.redrive(earlier.key)
    again = await deliveries.claim("c", utcnow(), LEASE)
    assert again is not None
    assert again.key == earlier.key
    done = utcnow()
    assert await deliveries.mark_delivered(
        again.key, "c", Attempt(at=done, status_code=200, duration_ms=3), done + timedelta(days=1)
    )
    assert await deliveries.wake_successors(again, done) == 0
    assert await deliveries.claim("d", utcnow(), LEASE) is None, "sent twice at once"
    assert await deliveries.mark_delivered(  # the first sender still owns it
        later.key, "b", Attempt(at=done, status_code=200, duration_ms=3), done + timedelta(days=1)
    )


async def test_a_paused_subscriptions_deliveries_are_held_and_released_on_resume(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    paused = await subscribe(EventType.WALLET_CREDITED)
    active = await subscribe(EventType.WALLET_CREDITED)
    await wshop.webhooks.pause(paused.id)
    await wshop.webhooks.publish([occurrence(EventType.WALLET_CREDITED, "account:1", 1, 1)])
    deliveries = wshop.repositories.webhook_deliveries
    taken = []
    while (claimed := await deliveries.claim("x", utcnow(), LEASE)) is not None:
        taken.append(claimed)
        if claimed.subscription_id == ObjectId(paused.id):
            assert await deliveries.hold(claimed.key, "x")
    assert {str(c.subscription_id) for c in taken} == {paused.id, active.id}
    assert (await wshop.webhooks.counts()).held == 1
    assert await wshop.webhooks.release_held() == 0, "its subscription is still paused"
    assert await wshop.webhooks.resume(paused.id) == 1
    [released] = (await wshop.webhooks.deliveries_of(paused.id)).items
    assert released.status is DeliveryStatus.PENDING
    assert released.attempts == 0, "a held attempt is not counted"


async def test_keyset_pages_across_widening_windows_equal_the_whole_list(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    subscription = await subscribe(EventType.ORDER_PLACED)
    deliveries = wshop.repositories.webhook_deliveries
    now = utcnow()
    ages = [timedelta(minutes=m) for m in (1, 2, 2, 30, 200, 2_000, 20_000, 200_000, 900_000)]
    await deliveries.collection.insert_many(
        [
            {
                "_id": f"evt_{n:032x}.{subscription.id}",
                "event": {
                    "id": f"evt_{n:032x}",
                    "type": "order.placed",
                    "created_at": now,
                    "data": {},
                },
                "subscription_id": ObjectId(subscription.id),
                "object_key": f"order:{n}",
                "sequence": n,
                "status": "delivered" if n % 3 else "dead",
                "attempts": 1,
                "available_at": now,
                "history": [],
                "created_at": now - age,
            }
            for n, age in enumerate(ages)
        ]
    )
    expected = [
        f"evt_{n:032x}.{subscription.id}"
        for n in sorted(range(len(ages)), key=lambda n: (ages[n], -n))
    ]
    for size in (1, 2, 4, 20):
        seen: list[str] = []
        after = None
        while True:
            page = await wshop.webhooks.deliveries_of(subscription.id, after=after, limit=size)
            seen += [d.id for d in page.items]
            if page.next_after is None:
                break
            after = page.next_after
        assert seen == expected, f"pages of {size}"
    dead = await wshop.webhooks.deliveries_of(subscription.id, status=DeliveryStatus.DEAD, limit=2)
    assert [d.id for d in dead.items] == [k for k in expected if int(k[4:36], 16) % 3 == 0][:2]


def test_the_sync_face_manages_subscriptions_and_publishes(shop: Shop) -> None:
    from tests.integration.webhooks.test_safety import PUBLIC

    shop.webhooks.resolver = lambda host, port: [PUBLIC]
    created = shop.webhooks.create(
        SubscriptionRequest(url="https://hooks.example/in", event_types=[EventType.ORDER_PLACED])
    )
    assert [s.id for s in shop.webhooks.list_all()] == [created.id]
    placed = occurrence(EventType.ORDER_PLACED, "order:9", 1, at_offset=1)
    assert shop.webhooks.publish([placed]) == 1
    assert shop.webhooks.counts().pending == 1
    shop.webhooks.delete(created.id)
    assert shop.webhooks.counts().pending == 0


async def test_the_deliverer_releases_what_a_resume_racing_a_pause_left_held(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    """A deliverer that read "paused" just before a resume holds the delivery after the
    resume released the others: the deliverer's periodic sweep releases it."""
    from mongoshop.webhooks.client import WebhookClient
    from mongoshop.worker.webhook_deliverer import WebhookDeliverer

    subscription = await subscribe(EventType.WALLET_CREDITED)
    await wshop.webhooks.publish([occurrence(EventType.WALLET_CREDITED, "account:5", 1, 1)])
    deliveries = wshop.repositories.webhook_deliveries
    claimed = await deliveries.claim("late", utcnow(), LEASE)
    assert claimed is not None
    assert await deliveries.hold(claimed.key, "late")  # the subscription is active meanwhile

    client = WebhookClient(timeout=1, resolver=None, allow_private=True)  # type: ignore[arg-type]
    deliverer = WebhookDeliverer(
        wshop.repositories.webhook_subscriptions, deliveries, client, wshop.settings
    )
    await deliverer._chores()
    [released] = (await wshop.webhooks.deliveries_of(subscription.id)).items
    assert released.status is DeliveryStatus.PENDING
    await deliverer._chores()  # within RELEASE_EVERY: no second sweep
    await client.aclose()


async def test_an_attempt_that_fails_unexpectedly_is_that_deliverys_failed_attempt(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    """Whatever a receiver provokes in the attempt (issue 21: a `Retry-After: ²` ended the
    deliverer, nothing recorded, for good) is recorded as the delivery's failed attempt,
    retried later, and the deliverer goes on to the next delivery."""
    from mongoshop.webhooks.client import Outcome, WebhookClient

    class Hostile(WebhookClient):
        calls = 0

        async def post(self, target, body, headers):  # type: ignore[no-untyped-def]
            self.calls += 1
            if self.calls == 1:
                raise ValueError("could not convert string to float: '\u00b2'")
            return Outcome(0.01, status_code=204)

    subscription = await subscribe(EventType.WALLET_CREDITED)
    await wshop.webhooks.publish(
        [
            occurrence(EventType.WALLET_CREDITED, "account:7", 1, 1),
            occurrence(EventType.WALLET_CREDITED, "account:8", 1, 2),
        ]
    )
    client = Hostile(timeout=1, resolver=None, allow_private=True)  # type: ignore[arg-type]
    deliverer = deliverer_of(wshop, client)
    assert await deliverer.deliver_some()
    assert await deliverer.deliver_some()
    await client.aclose()
    deliveries = (await wshop.webhooks.deliveries_of(subscription.id)).items
    statuses = sorted((d.status.value, d.attempts, len(d.history)) for d in deliveries)
    assert statuses == [("delivered", 1, 1), ("pending", 1, 1)]
    [failed] = [d for d in deliveries if d.status is DeliveryStatus.PENDING]
    assert failed.history[0].error == "unexpected error: ValueError"
    assert failed.next_attempt_at is not None  # tried again later, with back-off


async def test_an_attempt_that_cannot_be_recorded_is_recorded_as_a_failed_one(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    """An outcome whose record fails in a way no rule foresaw (here an error text BSON
    cannot encode: a lone surrogate) is recorded as an unexpected failed attempt, so the
    delivery is retried and can die; before, nothing was recorded and it was claimed
    again after each lease, for ever."""
    from mongoshop.webhooks.client import Outcome, WebhookClient

    class Garbled(WebhookClient):
        async def post(self, target, body, headers):  # type: ignore[no-untyped-def]
            return Outcome(0.01, status_code=502, error="HTTP 502: \udcff\udcfe")

    subscription = await subscribe(EventType.WALLET_CREDITED)
    await wshop.webhooks.publish([occurrence(EventType.WALLET_CREDITED, "account:9", 1)])
    client = Garbled(timeout=1, resolver=None, allow_private=True)  # type: ignore[arg-type]
    assert await deliverer_of(wshop, client).deliver_some()
    await client.aclose()

    [delivery] = (await wshop.webhooks.deliveries_of(subscription.id)).items
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert [a.error for a in delivery.history] == ["unexpected error: UnicodeEncodeError"]
    assert delivery.next_attempt_at is not None


async def test_a_claim_takes_one_event_per_object_and_leaves_the_later_one_in_line(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    """A batch holds at most one event of an object: the next one stays in line until
    the first is done with (then, claimed meanwhile, it leaves the line to wait)."""
    await subscribe(EventType.ORDER_PLACED)
    await wshop.webhooks.publish(
        [
            occurrence(EventType.ORDER_PLACED, "order:1", 1, 1),
            occurrence(EventType.ORDER_PLACED, "order:1", 2, 2),
            occurrence(EventType.ORDER_PLACED, "order:2", 1, 3),
        ]
    )
    deliveries = wshop.repositories.webhook_deliveries
    claimed = await deliveries.claim_some("a", utcnow(), LEASE, 8)
    assert sorted((d.object_key, d.sequence) for d in claimed) == [("order:1", 1), ("order:2", 1)]
    later = await deliveries.collection.find_one({"object_key": "order:1", "sequence": 2})
    assert later is not None
    assert later["status"] == "pending"
    assert later["attempts"] == 0
    assert later.get("place") is not None, "still in line"
    assert await deliveries.claim_some("b", utcnow(), LEASE, 8) == []
    waiting = await deliveries.collection.find_one({"_id": later["_id"]})
    assert waiting is not None
    assert waiting.get("place") is None, "out of the line"
    assert waiting["due_at"] > utcnow(), "waiting for order:1's first"


async def test_a_failing_subscriptions_rest_of_the_batch_goes_back_in_line_uncounted(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    """A receiver that fails (or hangs) costs a batch one attempt, not one per delivery:
    the rest of its deliveries go back in line as they were; another subscription's
    deliveries in the same batch are made."""
    from mongoshop.webhooks.client import Outcome, WebhookClient

    calls: list[str] = []

    class HalfDown(WebhookClient):
        async def post(self, target, body, headers):  # type: ignore[no-untyped-def]
            calls.append(target.path)
            if target.path == "/down":
                return Outcome(0.01, status_code=503)
            return Outcome(0.01, status_code=204)

    down = await subscribe(EventType.WALLET_CREDITED, url="http://127.0.0.1:9/down")
    up = await subscribe(EventType.WALLET_CREDITED, url="http://127.0.0.1:9/up")
    await wshop.webhooks.publish(
        [occurrence(EventType.WALLET_CREDITED, f"account:{n}", 1, n) for n in range(3)]
    )
    client = HalfDown(timeout=1, resolver=None, allow_private=True)  # type: ignore[arg-type]
    deliverer = deliverer_of(wshop, client)
    assert await deliverer.deliver_some()
    await client.aclose()
    assert calls.count("/down") == 1
    assert calls.count("/up") == 3
    downs = (await wshop.webhooks.deliveries_of(down.id)).items
    assert sorted((d.status.value, d.attempts) for d in downs) == [
        ("pending", 0),
        ("pending", 0),
        ("pending", 1),
    ]
    given_back = await wshop.repositories.webhook_deliveries.collection.find(
        {"subscription_id": ObjectId(down.id), "attempts": 0}
    ).to_list(None)
    assert all(d.get("place") is not None and d["claimed_by"] is None for d in given_back)
    ups = (await wshop.webhooks.deliveries_of(up.id)).items
    assert [d.status for d in ups] == [DeliveryStatus.DELIVERED] * 3


async def test_an_endpoint_that_keeps_failing_opens_its_circuit_then_one_success_closes_it(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    """Issue 21 #4: after MONGOSHOP_WEBHOOK_CIRCUIT_FAILURES failed attempts in a row, a
    subscription's deliveries wait out of the line (their claims not counted) until the
    circuit's time is up, with no attempt; the first success after it closes it."""
    from mongoshop.webhooks.client import Outcome, WebhookClient

    calls: list[str] = []
    down = {"/down": True}

    class Flaky(WebhookClient):
        async def post(self, target, body, headers):  # type: ignore[no-untyped-def]
            calls.append(target.path)
            if down.get(target.path):
                return Outcome(0.01, status_code=503)
            return Outcome(0.01, status_code=204)

    failing = await subscribe(EventType.WALLET_CREDITED, url="http://127.0.0.1:9/down")
    await subscribe(EventType.WALLET_CREDITED, url="http://127.0.0.1:9/up")
    await wshop.webhooks.publish(
        [occurrence(EventType.WALLET_CREDITED, f"account:{n}", 1, n) for n in range(4)]
    )
    settings = wshop.settings.model_copy(
        update={"webhook_circuit_failures": 2, "webhook_circuit_open_seconds": 60}
    )
    later = timedelta(0)
    client = Flaky(timeout=1, resolver=None, allow_private=True)  # type: ignore[arg-type]
    deliverer = deliverer_of(wshop, client, settings=settings, clock=lambda: utcnow() + later)
    while await deliverer.deliver_some():
        pass
    assert calls.count("/down") == 2, "two failures, then the circuit is open"
    assert calls.count("/up") == 4
    subscription = await wshop.webhooks.get(failing.id)
    assert subscription.failed_attempts == 2
    assert subscription.circuit_open_until is not None
    opened_for = subscription.circuit_open_until - utcnow()
    assert timedelta(seconds=55) < opened_for <= timedelta(seconds=60)
    deliveries = await wshop.repositories.webhook_deliveries.collection.find(
        {"subscription_id": ObjectId(failing.id)}
    ).to_list(None)
    assert sorted(d["attempts"] for d in deliveries) == [0, 0, 1, 1]
    for waiting in (d for d in deliveries if d["attempts"] == 0):
        assert waiting.get("place") is None, "out of the line"
        assert waiting["due_at"] == subscription.circuit_open_until
        assert waiting["status"] == "pending"

    down["/down"] = False
    later = timedelta(minutes=30)  # the circuit's time and every back-off are over
    await deliverer._chores()  # the sweep puts them back in line
    while await deliverer.deliver_some():
        pass
    await client.aclose()
    assert calls.count("/down") == 6
    closed = await wshop.webhooks.get(failing.id)
    assert closed.failed_attempts == 0
    assert closed.circuit_open_until is None
    statuses = [d.status for d in (await wshop.webhooks.deliveries_of(failing.id)).items]
    assert statuses == [DeliveryStatus.DELIVERED] * 4


async def test_an_admins_redrive_closes_the_subscriptions_circuit(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    """A redrive asks for an attempt now: an open circuit would make it wait."""
    subscription = await subscribe(EventType.ORDER_PLACED)
    await wshop.webhooks.publish([occurrence(EventType.ORDER_PLACED, "order:9", 1)])
    deliveries = wshop.repositories.webhook_deliveries
    claimed = await deliveries.claim("a", utcnow(), LEASE)
    assert claimed is not None
    attempt = Attempt(at=utcnow(), status_code=None, duration_ms=1000, error="timeout")
    assert await deliveries.mark_dead(claimed.key, "a", attempt)
    subscriptions = wshop.repositories.webhook_subscriptions
    opened = await subscriptions.record_failed_attempt(
        ObjectId(subscription.id), utcnow(), 1, timedelta(minutes=5)
    )
    assert opened is not None
    assert (await wshop.webhooks.get(subscription.id)).circuit_open_until == opened
    await wshop.webhooks.redrive(claimed.key)
    closed = await wshop.webhooks.get(subscription.id)
    assert closed.circuit_open_until is None
    assert closed.failed_attempts == 0


async def test_a_circuit_opened_by_one_subscription_holds_every_subscription_to_its_url(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    """The circuit is the endpoint's: a second subscription to the same dead URL makes no
    attempt of its own once the first has opened it (before, each subscription paid
    its own timeouts to find the endpoint dead)."""
    from mongoshop.webhooks.client import Outcome, WebhookClient

    calls: list[str] = []

    class Down(WebhookClient):
        async def post(self, target, body, headers):  # type: ignore[no-untyped-def]
            calls.append(target.path)
            return Outcome(0.01, status_code=503 if target.path == "/down" else 204)

    first = await subscribe(EventType.WALLET_CREDITED, url="http://127.0.0.1:9/down")
    second = await subscribe(EventType.ORDER_PLACED, url="http://127.0.0.1:9/down")
    elsewhere = await subscribe(EventType.ORDER_PLACED, url="http://127.0.0.1:9/other")
    settings = wshop.settings.model_copy(
        update={"webhook_circuit_failures": 2, "webhook_circuit_open_seconds": 60}
    )
    client = Down(timeout=1, resolver=None, allow_private=True)  # type: ignore[arg-type]
    deliverer = deliverer_of(wshop, client, settings=settings)
    await wshop.webhooks.publish(
        [occurrence(EventType.WALLET_CREDITED, f"account:{n}", 1, n) for n in range(4)]
    )
    while await deliverer.deliver_some():
        pass
    assert calls == ["/down", "/down"], "two failures, then the circuit is open"
    opened = (await wshop.webhooks.get(first.id)).circuit_open_until
    assert opened is not None
    assert (await wshop.webhooks.get(second.id)).circuit_open_until == opened
    assert (await wshop.webhooks.get(elsewhere.id)).circuit_open_until is None

    await wshop.webhooks.publish(
        [occurrence(EventType.ORDER_PLACED, f"order:{n}", 1) for n in range(3)]
    )
    while await deliverer.deliver_some():
        pass
    await client.aclose()
    assert calls.count("/down") == 2, "the second subscription waited, with no attempt"
    assert calls.count("/other") == 3
    waiting = await wshop.repositories.webhook_deliveries.collection.find(
        {"subscription_id": ObjectId(second.id)}
    ).to_list(None)
    assert len(waiting) == 3
    assert {(d["attempts"], d["due_at"]) for d in waiting} == {(0, opened)}


async def test_a_workers_deliverers_hold_at_most_its_share_of_attempts_to_one_subscription(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    """Issue 21 #4: deliverers sharing a worker's `InFlight` make at most
    MONGOSHOP_WEBHOOK_PER_SUBSCRIPTION attempts to one subscription at once; the one
    over the share gives its delivery back (uncounted) and the other subscription's
    deliveries are made meanwhile."""
    from mongoshop.webhooks.client import Outcome, WebhookClient
    from mongoshop.webhooks.in_flight import InFlight

    now_in_flight: dict[str, int] = {"/slow": 0, "/fast": 0}
    most: dict[str, int] = {"/slow": 0, "/fast": 0}

    class Slow(WebhookClient):
        async def post(self, target, body, headers):  # type: ignore[no-untyped-def]
            now_in_flight[target.path] += 1
            most[target.path] = max(most[target.path], now_in_flight[target.path])
            await asyncio.sleep(0.3 if target.path == "/slow" else 0.01)
            now_in_flight[target.path] -= 1
            return Outcome(0.3, status_code=204)

    slow = await subscribe(EventType.WALLET_CREDITED, url="http://127.0.0.1:9/slow")
    fast = await subscribe(EventType.ORDER_PLACED, url="http://127.0.0.1:9/fast")
    await wshop.webhooks.publish(
        [occurrence(EventType.WALLET_CREDITED, f"account:{n}", 1, n) for n in range(6)]
        + [occurrence(EventType.ORDER_PLACED, f"order:{n}", 1, n) for n in range(3)]
    )
    client = Slow(timeout=1, resolver=None, allow_private=True)  # type: ignore[arg-type]
    in_flight = InFlight(per_subscription=1)
    deliverers = [deliverer_of(wshop, client, in_flight=in_flight) for _ in range(3)]
    for deliverer in deliverers:
        deliverer.batch = 1

    async def all_delivered() -> bool:
        for subscription in (slow, fast):
            for made in (await wshop.webhooks.deliveries_of(subscription.id)).items:
                if made.status is not DeliveryStatus.DELIVERED:
                    return False
        return True

    async def drain(deliverer: Any) -> None:
        for _ in range(100):
            if await all_delivered():
                return
            if not await deliverer.deliver_some():
                await asyncio.sleep(0.05)

    await asyncio.gather(*(drain(deliverer) for deliverer in deliverers))
    await client.aclose()
    assert most["/slow"] == 1, "never two attempts at once to the slow subscription"
    for subscription in (slow, fast):
        made = (await wshop.webhooks.deliveries_of(subscription.id)).items
        assert {(d.status, d.attempts) for d in made} == {(DeliveryStatus.DELIVERED, 1)}
    assert in_flight.held("http://127.0.0.1:9/slow") == 0


async def test_a_workers_deliverers_share_one_bound_per_subscription(wshop: AsyncShop) -> None:
    """The share holds across the worker's deliverers only if they hold the same one."""
    from mongoshop.worker.event_worker import EventWorker

    settings = wshop.settings.model_copy(
        update={"webhook_deliverers": 3, "webhook_per_subscription": 2}
    )
    worker = EventWorker(AsyncShop(wshop.database, settings))
    try:
        assert len(worker.deliverers) == 3
        assert len({id(deliverer.in_flight) for deliverer in worker.deliverers}) == 1
        assert worker.deliverers[0].in_flight.per_subscription == 2
        assert worker.deliverers[0].in_flight.total == 3, "the worker's attempts at once"
    finally:
        await worker.webhook_client.aclose()


async def test_a_worker_makes_at_most_its_deliverers_attempts_at_once(
    wshop: AsyncShop, subscribe: Subscribe
) -> None:
    """A deliverer serves its batch's subscriptions at the same time; the worker's bound
    (MONGOSHOP_WEBHOOK_DELIVERERS) still holds across all of them: without it, two
    deliverers with batches of eight subscriptions made sixteen attempts at once."""
    from mongoshop.webhooks.client import Outcome, WebhookClient
    from mongoshop.webhooks.in_flight import InFlight

    in_flight_now = 0
    most = 0

    class Slow(WebhookClient):
        async def post(self, target, body, headers):  # type: ignore[no-untyped-def]
            nonlocal in_flight_now, most
            in_flight_now += 1
            most = max(most, in_flight_now)
            await asyncio.sleep(0.2)
            in_flight_now -= 1
            return Outcome(0.2, status_code=204)

    subscriptions = [
        await subscribe(EventType.WALLET_CREDITED, url=f"http://127.0.0.1:9/s{n}") for n in range(8)
    ]
    await wshop.webhooks.publish(
        [occurrence(EventType.WALLET_CREDITED, f"account:{n}", 1, n) for n in range(2)]
    )
    client = Slow(timeout=1, resolver=None, allow_private=True)  # type: ignore[arg-type]
    in_flight = InFlight(per_subscription=2, total=3)
    deliverers = [deliverer_of(wshop, client, in_flight=in_flight) for _ in range(2)]

    async def delivered() -> int:
        count = 0
        for subscription in subscriptions:
            for made in (await wshop.webhooks.deliveries_of(subscription.id)).items:
                count += made.status is DeliveryStatus.DELIVERED
        return count

    async def drain(deliverer: Any) -> None:
        for _ in range(200):
            if await delivered() == 16:
                return
            if not await deliverer.deliver_some():
                await asyncio.sleep(0.05)

    await asyncio.gather(*(drain(deliverer) for deliverer in deliverers))
    await client.aclose()
    assert await delivered() == 16
    assert most == 3, "the worker's bound, reached and never passed"
