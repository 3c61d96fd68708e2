"""Webhook subscriptions, and their deliveries: an outbox with leases and per-object order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import ClassVar

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from mongoshop._async.repositories.base import NEWEST_FIRST, RECENT_WINDOWS, AsyncRepository
from mongoshop._async.repositories.line import (
    DUE_INDEX,
    NOT_DUE,
    PLACE_INDEX,
    AsyncLinedRepository,
    due,
    spread,
)
from mongoshop.clock import utcnow
from mongoshop.models.common import Document
from mongoshop.models.webhooks import (
    Attempt,
    DeliveryInDB,
    DeliveryStatus,
    EventType,
    SubscriptionInDB,
    SubscriptionStatus,
    SubscriptionUpdate,
)
from mongoshop.webhooks.events import Occurrence

HISTORY_KEPT = 20
"""Attempts kept with a delivery (the latest)."""
REDRIVEN: Document = {
    "status": DeliveryStatus.PENDING.value,
    "attempts": 0,
    "finished_at": None,
}
"""What a redriven delivery becomes (its history and last error stay, for the record)."""
WAIT_FOR_PREDECESSOR = timedelta(seconds=1)
"""A delivery whose object's previous event is due but not yet taken waits at least this
long (the one that delivers the previous event wakes it up at once)."""


def _spread_keeping_order(candidates: Sequence[Document]) -> list[Document]:
    """The candidates in a random order (`spread`), except that the deliveries of one
    object to one subscription keep theirs."""
    groups: dict[tuple[object, object], list[Document]] = {}
    for candidate in candidates:
        groups.setdefault((candidate["subscription_id"], candidate["object_key"]), []).append(
            candidate
        )
    return [candidate for group in spread(list(groups.values())) for candidate in group]


def _first_before(unfinished: Sequence[Document], sequence: int) -> Document | None:
    """The earliest of an object's unfinished deliveries that comes before `sequence`."""
    before = [document for document in unfinished if document["sequence"] < sequence]
    return min(before, key=lambda document: document["sequence"]) if before else None


class AsyncSubscriptionRepository(AsyncRepository[SubscriptionInDB]):
    collection_name = "webhook_subscriptions"
    model = SubscriptionInDB
    indexes: ClassVar[Sequence[IndexModel]] = (
        IndexModel([("event_types", ASCENDING)], name="event_types"),
        IndexModel([("status", ASCENDING)], name="status"),
        IndexModel([("created_at", DESCENDING)], name="created_at"),
        # A circuit opens for an endpoint: every subscription to its URL.
        IndexModel([("url", ASCENDING)], name="url"),
    )

    async def add(
        self,
        url: str,
        event_types: Iterable[EventType],
        secret: str,
        description: str | None,
        at: datetime,
    ) -> SubscriptionInDB:
        """A new active subscription to `event_types` (its URL checked by the caller)."""
        document: Document = {
            "url": url,
            "event_types": sorted({kind.value for kind in event_types}),
            "secret": secret,
            "description": description,
            "status": SubscriptionStatus.ACTIVE.value,
            "paused_reason": None,
            "paused_at": None,
            "consecutive_dead": 0,
            "created_at": at,
            "updated_at": at,
        }
        document["_id"] = await self.create(document)
        return self.to_model(document)

    async def change(
        self, id: ObjectId, changes: SubscriptionUpdate, url: str | None, at: datetime
    ) -> None:
        """Apply the URL (`url`, checked by the caller), the events and the description of
        `changes`; its status is paused or resumed through `pause` and `resume`."""
        fields: Document = {}
        if url is not None:
            fields["url"] = url
        if changes.event_types is not None:
            fields["event_types"] = sorted({kind.value for kind in changes.event_types})
        if "description" in changes.model_fields_set:
            fields["description"] = changes.description
        if fields:
            await self.update({"_id": id}, {"$set": {**fields, "updated_at": at}})

    async def subscribed_to(self, kind: EventType) -> list[SubscriptionInDB]:
        """Every subscription to `kind`, active or paused (a paused one keeps its events)."""
        return await self.find_many({"event_types": kind.value}, limit=0)

    async def newest(self, limit: int) -> list[SubscriptionInDB]:
        return await self.find_many({}, sort=[("created_at", DESCENDING)], limit=limit)

    async def active_ids(self) -> list[ObjectId]:
        documents = await self.find_documents(
            {"status": SubscriptionStatus.ACTIVE.value}, projection={"_id": 1}, limit=0
        )
        return [document["_id"] for document in documents]

    async def count_paused(self) -> int:
        return await self.count({"status": SubscriptionStatus.PAUSED.value})

    async def record_dead(self, id: ObjectId) -> int:
        """One more delivery died in a row; how many now (0: the subscription is gone)."""
        found = await self.update_and_get({"_id": id}, {"$inc": {"consecutive_dead": 1}})
        return 0 if found is None else found.consecutive_dead

    async def record_success(self, id: ObjectId) -> None:
        """A delivery got through: the runs of deaths and of failed attempts are over, its
        circuit closed. The caller writes it only when a run was not 0 as it read it (a
        success is nearly always after another: no write then)."""
        await self.update(
            {"_id": id},
            {"$set": {"consecutive_dead": 0, "failed_attempts": 0, "circuit_open_until": None}},
        )

    async def close_circuit(self, id: ObjectId) -> None:
        """Its endpoint may be tried at once again (an admin redrove its deliveries)."""
        await self.update({"_id": id}, {"$set": {"failed_attempts": 0, "circuit_open_until": None}})

    async def record_failed_attempt(
        self, id: ObjectId, at: datetime, open_after: int, open_for: timedelta
    ) -> datetime | None:
        """One more attempt failed in a row; when that makes `open_after` of them, the
        circuit opens until `at + open_for`: that time (None: still closed, or the
        subscription is gone). A trial after the circuit's time that fails opens it again.

        The circuit is the endpoint's: it opens for every subscription to the same URL
        (those not already open for longer), so a dead endpoint costs its timeouts
        once, not once per subscription to it."""
        found = await self.update_and_get({"_id": id}, {"$inc": {"failed_attempts": 1}})
        if found is None or found.failed_attempts < open_after:
            return None
        until = at + open_for
        await self.update(
            {"_id": id, "failed_attempts": {"$gte": open_after}},
            {"$set": {"circuit_open_until": until}},
        )
        await self.collection.update_many(
            {"url": found.url, "_id": {"$ne": id}, "circuit_open_until": {"$not": {"$gt": until}}},
            {"$set": {"circuit_open_until": until}},
        )
        return until

    async def pause(
        self, id: ObjectId, reason: str, at: datetime, *, if_failing: int | None = None
    ) -> bool:
        """Pause an active subscription; with `if_failing`, only while that many deliveries
        in a row have died (checked in the write: a success in between wins)."""
        guard: Document = {"_id": id, "status": SubscriptionStatus.ACTIVE.value}
        if if_failing is not None:
            guard["consecutive_dead"] = {"$gte": if_failing}
        fields = {
            "status": SubscriptionStatus.PAUSED.value,
            "paused_reason": reason,
            "paused_at": at,
            "updated_at": at,
        }
        return await self.update(guard, {"$set": fields}) == 1

    async def resume(self, id: ObjectId, at: datetime) -> bool:
        fields = {
            "status": SubscriptionStatus.ACTIVE.value,
            "paused_reason": None,
            "paused_at": None,
            "consecutive_dead": 0,
            "failed_attempts": 0,
            "circuit_open_until": None,
            "updated_at": at,
        }
        return await self.update({"_id": id}, {"$set": fields}) == 1


class AsyncDeliveryRepository(AsyncLinedRepository[DeliveryInDB]):
    """Each event's delivery to each subscription: a line (`mongoshop._async.repositories.line`)
    with one more rule, per-object order."""

    collection_name = "webhook_deliveries"
    queue_name = "webhooks"
    given_up_status = DeliveryStatus.DEAD.value
    model = DeliveryInDB
    indexes: ClassVar[Sequence[IndexModel]] = (
        IndexModel([("status", ASCENDING), ("available_at", ASCENDING)], name="status_available"),
        PLACE_INDEX,
        DUE_INDEX,
        # Every query below names all the fields of its filter in one index: the embedded
        # server plans a filter with a field outside the index (or an $in) as a scan.
        # Only `subscription_newest` starts with the subscription: a subscription's
        # listing has one index to choose, never one that would read its whole history.
        IndexModel(
            [
                ("object_key", ASCENDING),
                ("subscription_id", ASCENDING),
                ("status", ASCENDING),
                ("sequence", ASCENDING),
            ],
            name="object_subscription_status",
        ),
        IndexModel(
            [("subscription_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="subscription_newest",
        ),
        IndexModel(
            [
                ("status", ASCENDING),
                ("subscription_id", ASCENDING),
                ("created_at", DESCENDING),
                ("_id", DESCENDING),
            ],
            name="status_subscription_newest",
        ),
        # Delivered ones are kept for MONGOSHOP_WEBHOOK_RETENTION_DAYS (only they get the
        # field); pending, held and dead ones stay until they are dealt with.
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
    )

    async def enqueue_for(
        self, deliveries: Sequence[tuple[Occurrence, ObjectId]], at: datetime
    ) -> int:
        """A pending delivery of each (occurrence, subscription), in line; how many were
        new. Its key is the event's id and the subscription's: the same change seen
        again (a restarted or second worker) adds nothing."""
        return await self.enqueue_many(
            [
                {
                    "_id": f"{occurrence.event.id}.{subscription_id}",
                    "event": {**occurrence.event.model_dump(), "type": occurrence.event.type.value},
                    "subscription_id": subscription_id,
                    "object_key": occurrence.object_key,
                    "sequence": occurrence.sequence,
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "available_at": at,
                    "claimed_by": None,
                    "last_error": None,
                    "history": [],
                    "created_at": at,
                    "finished_at": None,
                    **({} if occurrence.trace is None else {"trace": dict(occurrence.trace)}),
                }
                for occurrence, subscription_id in deliveries
            ]
        )

    async def by_key(
        self, key: str, subscription_id: ObjectId | None = None
    ) -> DeliveryInDB | None:
        """The delivery `key` (of that subscription only, when one is given)."""
        filter: Document = {"_id": key}
        if subscription_id is not None:
            filter["subscription_id"] = subscription_id
        return await self.find_one(filter)

    async def claim(self, owner: str, now: datetime, lease: timedelta) -> DeliveryInDB | None:
        """Take the next delivery in line for `owner` until `now + lease` (`claim_some`)."""
        claimed = await self.claim_some(owner, now, lease, 1)
        return claimed[0] if claimed else None

    async def claim_some(
        self, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[DeliveryInDB]:
        """Take up to `limit` deliveries in line for `owner` until `now + lease`, atomically,
        in order: at most one per object and subscription.

        As the mail outbox's claim: candidates from the line's window, taken in
        one guarded write (`AsyncLine.take`), so each is won by one deliverer.
        A candidate whose object has an earlier event still to deliver to the
        same subscription is not taken: it leaves the line to wait for that one
        (until its lease or back-off ends; delivering it puts this one back in
        line at once), or is held with it when that one is held. A later event
        of an object taken in this claim stays in line, for a later claim.
        The earlier events of all candidates are found in one read.
        """
        candidates = _spread_keeping_order(
            await self.line.candidates({"subscription_id": 1, "object_key": 1, "sequence": 1})
        )
        earlier = await self._unfinished(candidates)
        chosen: list[Document] = []
        taken: set[tuple[object, object]] = set()
        for candidate in candidates:
            key = (candidate["subscription_id"], candidate["object_key"])
            if key in taken:
                continue
            taken.add(key)
            blocker = _first_before(earlier.get(key, []), candidate["sequence"])
            if blocker is not None:
                await self._wait_for(candidate, blocker, now)
                continue
            chosen.append(candidate)
        for start in range(0, len(chosen), limit):
            won = await self.take(chosen[start : start + limit], owner, now + lease)
            if won:
                return won
        return []

    async def _unfinished(
        self, candidates: Sequence[Document]
    ) -> dict[tuple[object, object], list[Document]]:
        """The deliveries still to make (pending or held) of the candidates' objects to
        their subscriptions, the candidates among them, by (subscription, object): one
        read through `object_subscription_status`, by ``$in`` on its first three fields."""
        if not candidates:
            return {}
        found = await self.find_documents(
            {
                "object_key": {"$in": list({c["object_key"] for c in candidates})},
                "subscription_id": {"$in": list({c["subscription_id"] for c in candidates})},
                "status": {"$in": [DeliveryStatus.PENDING.value, DeliveryStatus.HELD.value]},
            },
            projection={
                "subscription_id": 1,
                "object_key": 1,
                "status": 1,
                "available_at": 1,
                "sequence": 1,
            },
            limit=0,
        )
        grouped: dict[tuple[object, object], list[Document]] = {}
        for document in found:
            key = (document["subscription_id"], document["object_key"])
            grouped.setdefault(key, []).append(document)
        return grouped

    async def _predecessor(self, delivery: Document) -> Document | None:
        """The earliest delivery of the same object to the same subscription still to make
        (pending or held), before this one; one indexed read per status."""
        found: list[Document] = []
        for status in (DeliveryStatus.PENDING, DeliveryStatus.HELD):
            found += await self.find_documents(
                {
                    "subscription_id": delivery["subscription_id"],
                    "object_key": delivery["object_key"],
                    "status": status.value,
                    "sequence": {"$lt": delivery["sequence"]},
                },
                projection={"status": 1, "available_at": 1, "sequence": 1},
                sort=[("sequence", ASCENDING)],
                limit=1,
            )
        return min(found, key=lambda d: d["sequence"]) if found else None

    async def _wait_for(self, candidate: Document, blocker: Document, now: datetime) -> None:
        if blocker["status"] == DeliveryStatus.HELD.value:
            await self.line.leave(candidate, {"status": DeliveryStatus.HELD.value})
            return
        # The blocker in line (no `available_at`) or in flight: this one waits at least a
        # little, and is put back in line as soon as the blocker is done with.
        until = max(blocker.get("available_at") or now, now + WAIT_FOR_PREDECESSOR)
        if not await self.line.leave(candidate, due(until)):
            return
        # The blocker may have been delivered while this one was leaving the line: its
        # wake-up then found this one still in line and left it be. Looked at again
        # after the leave, so that one of the two always sees the other.
        if await self._predecessor(candidate) is None:
            waiting = {"_id": candidate["_id"], "status": DeliveryStatus.PENDING.value}
            await self.line.reline([{**waiting, "claimed_by": None, "place": None}])

    def _mine(self, key: str, owner: str) -> Document:
        return {"_id": key, "claimed_by": owner, "status": DeliveryStatus.PENDING.value}

    @staticmethod
    def _history(attempt: Attempt) -> Document:
        return {"$each": [attempt.model_dump()], "$slice": -HISTORY_KEPT}

    async def hold(self, key: str, owner: str) -> bool:
        """Its subscription is paused: keep it for later, the attempt not counted."""
        update = {
            "$set": {"status": DeliveryStatus.HELD.value, "claimed_by": None},
            "$inc": {"attempts": -1},
            **NOT_DUE,
        }
        return await self.update(self._mine(key, owner), update) == 1

    async def defer(self, key: str, owner: str, until: datetime, attempts: int) -> bool:
        """A claimed delivery not attempted after all (its subscription's circuit is open)
        waits out of the line until `until`, its claim not counted as an attempt
        (`attempts`: its count before the claim)."""
        update = {"$set": {**due(until), "claimed_by": None, "attempts": attempts}}
        return await self.update(self._mine(key, owner), update) == 1

    async def mark_delivered(
        self, key: str, owner: str, attempt: Attempt, expires_at: datetime
    ) -> bool:
        fields = {
            "status": DeliveryStatus.DELIVERED.value,
            "finished_at": attempt.at,
            "last_error": None,
            "expires_at": expires_at,
        }
        update = {"$set": fields, "$push": {"history": self._history(attempt)}, **NOT_DUE}
        return await self.update(self._mine(key, owner), update) == 1

    async def mark_retry(self, key: str, owner: str, attempt: Attempt, retry_at: datetime) -> bool:
        fields = {**due(retry_at), "claimed_by": None, "last_error": attempt.error}
        update = {"$set": fields, "$push": {"history": self._history(attempt)}}
        return await self.update(self._mine(key, owner), update) == 1

    async def mark_dead(self, key: str, owner: str, attempt: Attempt) -> bool:
        fields = {
            "status": DeliveryStatus.DEAD.value,
            "available_at": attempt.at,
            "finished_at": attempt.at,
            "claimed_by": None,
            "last_error": attempt.error,
        }
        update = {"$set": fields, "$push": {"history": self._history(attempt)}, **NOT_DUE}
        return await self.update(self._mine(key, owner), update) == 1

    async def wake_successors(self, delivery: DeliveryInDB, now: datetime) -> int:
        """The object's later deliveries, which waited for this one, go back in line now.

        Only those waiting out of the line with nobody on them: not one in line
        already, and not one in flight (claimed, its lease running: a redriven
        earlier delivery may finish while a later one is being sent), which
        would then be sent twice at once. The later ones are read through
        `object_subscription_status`, then each is put back by ``_id``, guarded.
        """
        later = await self.find_documents(
            {
                "subscription_id": delivery.subscription_id,
                "object_key": delivery.object_key,
                "status": DeliveryStatus.PENDING.value,
                "sequence": {"$gt": delivery.sequence},
            },
            projection={"_id": 1, "place": 1, "claimed_by": 1},
            limit=0,
        )
        waiting = [
            {
                "_id": successor["_id"],
                "status": DeliveryStatus.PENDING.value,
                "claimed_by": None,
                "place": None,
            }
            for successor in later
            if successor.get("place") is None and successor.get("claimed_by") is None
        ]
        return await self.line.reline(waiting)

    async def release_held(self, subscription_ids: Sequence[ObjectId]) -> int:
        """Held deliveries of these (active) subscriptions go back in line; how many.

        One read per active subscription, by equality on the status and the
        subscription (`status_subscription_newest`): each reads that subscription's
        held deliveries only, usually none. The held backlog of a paused subscription
        (all of its deliveries while it is paused) is never read: reading every held
        delivery first cost 1 s at 20,000 of them, every 10 s, in every worker.
        """
        released = 0
        for subscription_id in dict.fromkeys(subscription_ids):
            released += await self._reline_all(
                subscription_id, DeliveryStatus.HELD, {"status": DeliveryStatus.PENDING.value}
            )
        return released

    async def _reline_all(
        self, subscription_id: ObjectId, status: DeliveryStatus, fields: Document
    ) -> int:
        found = await self.find_documents(
            {"status": status.value, "subscription_id": subscription_id},
            projection={"_id": 1},
            limit=0,
        )
        guards = [{"_id": item["_id"], "status": status.value} for item in found]
        return await self.line.reline(guards, fields)

    async def redrive(self, key: str) -> bool:
        """A dead delivery goes back in line with a new round of attempts; False when it
        is not dead."""
        guard = {"_id": key, "status": DeliveryStatus.DEAD.value}
        return await self.line.reline([guard], REDRIVEN) == 1

    async def redrive_dead(self, subscription_id: ObjectId) -> int:
        return await self._reline_all(subscription_id, DeliveryStatus.DEAD, REDRIVEN)

    async def for_subscription(
        self,
        subscription_id: ObjectId,
        *,
        status: DeliveryStatus | None,
        after: tuple[datetime, str] | None,
        limit: int,
        now: datetime | None = None,
    ) -> list[DeliveryInDB]:
        """A subscription's deliveries, newest first, from after (`created_at`, key) when given.

        Keyset pages over `subscription_newest` (`status_subscription_newest` for one
        status), read in a window of recent time that widens until it holds the
        page (`RECENT_WINDOWS`), as everyone's orders: a subscription's history
        grows for its retention period, and the embedded server would sort all
        of it for every page.
        """
        filter: Document = {"subscription_id": subscription_id}
        if status is not None:
            filter["status"] = status.value
        ceiling = after[0] if after is not None else now or utcnow()
        for window in RECENT_WINDOWS:
            since = None if window is None else ceiling - window
            if after is not None:
                found = await self.newest_before(
                    filter, after[0], after[1], limit=limit, since=since
                )
            else:
                bounded = filter if since is None else {**filter, "created_at": {"$gte": since}}
                found = await self.find_many(bounded, sort=NEWEST_FIRST, limit=limit)
            if len(found) == limit or window is None:
                return found
        raise AssertionError("unreachable: the last window has no bound")

    async def newest_dead(self, limit: int) -> list[DeliveryInDB]:
        """The latest deliveries to die, across subscriptions (their `available_at` is
        when they died)."""
        return await self.find_many(
            {"status": DeliveryStatus.DEAD.value},
            sort=[("available_at", DESCENDING)],
            limit=limit,
        )

    async def count_status(self, status: DeliveryStatus) -> int:
        return await self.count({"status": status.value})

    async def delete_for_subscription(self, subscription_id: ObjectId) -> int:
        result = await self.collection.delete_many({"subscription_id": subscription_id})
        return result.deleted_count
