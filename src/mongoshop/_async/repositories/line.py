"""The line: a leased queue whose claim costs the same at a backlog of 50 or of 50,000.

The mail outbox and the webhook deliveries are both this queue. An item that
may be taken now stands *in the line*: it holds a `place`, a number given out
in arrival order by a counter (one tiny document per queue in `queue_lines`),
and no `available_at`. A claim reads the counter's `head` by ``_id`` and the
items whose places lie in the window ``[head, head + LINE_WINDOW)`` through
the `place` index: at most a window of documents, whatever the backlog. When
a window holds nobody any more (taken, or a place whose insert failed), the
head moves on. (`lined_at` says since when an item stands in line.)

Everything else is *out of the line*, with no place; a pending one has a `due_at`:
claimed (the lease's end), waiting for a retry (its back-off's end), waiting
for an earlier event of the same object. `sweep` puts back in line, at the
end, whoever is due again: a retry whose back-off is over, a claim whose
lease ended (its sender died), and the rare *straggler* (an item inserted
after the head had passed its place, which a slow insert can do). Each of the
sweep's reads matches only what it puts back, through an index.

Why not a sort by `available_at` with a limit, as before: the embedded server
reads and sorts every match before it applies a limit, so each claim cost
the whole due backlog (O(n) per item, O(n²) to drain a burst). Only an
equality on ``_id`` and a bounded index range are flat there; on MongoDB the
same reads are bounded index scans.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from pydantic import ValidationError
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure

from mongoshop._async.repositories.base import AsyncRepository, ModelT
from mongoshop.clock import utcnow
from mongoshop.errors import Busy
from mongoshop.models.common import Document
from mongoshop.validation import describe_errors

logger = logging.getLogger(__name__)
T = TypeVar("T")

LINE_WINDOW = 64
"""Places looked at per claim: claimers racing for the first item try the next ones."""
ADVANCES_PER_CLAIM = 32
"""Empty windows a claim may walk past before it answers "nothing due" (a run of holes
left by duplicates or aborted transactions is crossed over a few claims)."""
SET_ASIDE = "queue_set_aside"
"""Where items that break their collection's rules go (`AsyncLine.set_aside`)."""
DOCUMENT_VALIDATION_FAILURE = 121
PENDING = "pending"
"""The status of an item still to send, in the line or out of it (both queues)."""

COUNTER_TRIES = 5
"""Tries at reserving places before the caller is told to try again (503)."""

PLACE_INDEX = IndexModel([("place", ASCENDING)], name="place")
"""Every lined queue declares it: the claim's window and the sweep's stragglers."""
DUE_INDEX = IndexModel([("due_at", ASCENDING)], name="due_at")
"""And this one: the sweep's items due again. A field of its own, which only pending items
out of the line have (`available_at` stays on done ones), read by a range bounded on both
sides: on the embedded server a range open at one end reads every entry of the index."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOT_LINED: Document = {"$unset": {"place": ""}}
NOT_DUE: Document = {"$unset": {"due_at": ""}}
"""Every update that ends an item's wait out of the line (sent, given up, delivered, dead,
held, back in line) carries it."""


def spread(candidates: Sequence[T]) -> list[T]:
    """The candidates in a random order: claimers that read the same window try them in
    different orders, and mostly take different items at the first try. For a queue
    whose order matters (webhooks) the caller keeps the order within each key."""
    shuffled = list(candidates)
    random.shuffle(shuffled)
    return shuffled


def due(until: datetime) -> Document:
    """The fields of an item that waits out of the line until `until`."""
    return {"available_at": until, "due_at": until}


class AsyncLineCounters:
    """Each queue's counter: `tail`, the next place to give out; `head`, the first
    place a claim looks at. One document per queue, read and written by ``_id``."""

    collection_name = "queue_lines"

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.collection: AsyncCollection[Document] = database[self.collection_name]

    async def take(self, queue: str, count: int) -> int:
        """Reserve `count` places at the end of `queue`'s line; the first of them.

        ``findAndModify`` is a pass over its collection on the embedded server:
        this one holds a document per queue. Two first callers may race to
        create the counter; the loser's retry increments it.
        """
        for _ in range(COUNTER_TRIES):
            try:
                counter = await self.collection.find_one_and_update(
                    {"_id": queue},
                    {"$inc": {"tail": count}, "$setOnInsert": {"head": 0}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                continue
            if counter is None:
                # No document back from an upsert: the embedded server answered so under
                # a burst of first writers (the chaos soak). Nothing was reserved that we
                # know of (a place skipped is a hole the head walks past): ask again.
                continue
            return int(counter["tail"]) - count
        raise Busy(f"the line counter of {queue} could not be taken; try again")

    async def read(self, queue: str) -> tuple[int, int]:
        """(head, tail) of `queue`; (0, 0) before its first item."""
        counter = await self.collection.find_one({"_id": queue})
        if counter is None:
            return 0, 0
        return int(counter.get("head", 0)), int(counter.get("tail", 0))

    async def advance(self, queue: str, head: int, to: int) -> None:
        """Move the head from `head` to `to`, unless another claimer moved it first."""
        await self.collection.update_one({"_id": queue, "head": head}, {"$set": {"head": to}})


class AsyncLine:
    """The line of one queue's items (`collection`), named `queue` in the counters."""

    def __init__(
        self, collection: AsyncCollection[Document], counters: AsyncLineCounters, queue: str
    ) -> None:
        self.collection = collection
        self.counters = counters
        self.queue = queue

    async def place(self, documents: Sequence[Document]) -> None:
        """Give new pending items (not yet inserted) their places, in order: they join
        the line. Others (an item enqueued as already sent, say) get none.

        The places are taken before the insert, outside any transaction: a
        counter written inside one would make every transaction that enqueues
        conflict with every other. A place whose insert fails or whose
        transaction aborts stays empty, and the head walks past it.
        """
        pending = [document for document in documents if document.get("status") == PENDING]
        if not pending:
            return
        first = await self.counters.take(self.queue, len(pending))
        now = utcnow()
        for offset, document in enumerate(pending):
            document.update(place=first + offset, available_at=None, lined_at=now)

    async def candidates(self, projection: Mapping[str, Any]) -> list[Document]:
        """The pending items in the first window of the line that holds any, in order.

        Reads the counter and the window through the `place` index (the filter
        names `place` alone: the embedded server plans any other field as a
        scan), moving the head past windows that hold nobody while places are
        given out beyond them. Empty when the line is empty (or only reserved
        places remain: inserts in progress).
        """
        head, tail = await self.counters.read(self.queue)
        for _ in range(ADVANCES_PER_CLAIM):
            if head >= tail:
                return []
            end = head + LINE_WINDOW
            found = await self.collection.find(
                {"place": {"$gte": head, "$lt": end}},
                {**projection, "place": 1, "status": 1},
            ).to_list(None)
            waiting = [document for document in found if document.get("status") == PENDING]
            if waiting:
                waiting.sort(key=lambda document: int(document["place"]))
                return waiting
            if end > tail:
                return []  # the last places are reserved, their inserts not yet done
            await self.counters.advance(self.queue, head, end)
            head = end
        return []

    async def take(
        self, candidates: Sequence[Document], owner: str, lease_until: datetime
    ) -> list[Document]:
        """Claim candidates of one window for `owner`, in one write; those won, whole, in
        the candidates' order. Each leaves the line, leased to `owner` until `lease_until`.

        One ``update_many`` by ``_id`` (``$in``), whose filter still wants each in its
        place: of several claimers that read the same window, exactly one matches a
        given item. Its places lie in the window, and an item put back in line since
        gets a place past every place given out before (the counter's tail), so the
        window's bounds stand for each one's own. Then one read by ``_id`` (``$in``)
        of those now leased to `owner` until `lease_until`: a claimer claims once at
        a time, so these are the ones it just won. Both cost the window, not the
        backlog; per item they are about a third of an ``update_one`` and a
        ``find_one`` each (one command, one retryable-write record, for all).
        """
        if not candidates:
            return []
        until = lease_until.replace(microsecond=lease_until.microsecond // 1000 * 1000)
        ids = [candidate["_id"] for candidate in candidates]
        places = [int(candidate["place"]) for candidate in candidates]
        update: Document = {
            "$set": {**due(until), "claimed_by": owner},
            "$inc": {"attempts": 1},
            **NOT_LINED,
        }
        try:
            await self._claim_window(ids, places, update)
        except OperationFailure as exc:
            if exc.code != DOCUMENT_VALIDATION_FAILURE:
                raise
            await self._take_one_by_one(candidates, update)
        won = await self.collection.find(
            {"_id": {"$in": ids}, "claimed_by": owner, "due_at": until}
        ).to_list(None)
        order = {id: number for number, id in enumerate(ids)}
        return sorted(won, key=lambda document: order[document["_id"]])

    async def _claim_window(self, ids: list[Any], places: list[int], update: Document) -> None:
        """The claim's one write, sent again once if the connection drops: the driver
        retries no ``update_many``, and this one may be repeated safely (an item the
        first one took is out of its place: the second leaves it, and the read after
        finds it leased to the same owner until the same time)."""
        filter = {
            "_id": {"$in": ids},
            "place": {"$gte": min(places), "$lte": max(places)},
            "status": PENDING,
        }
        try:
            await self.collection.update_many(filter, update)
        except ConnectionFailure:
            await self.collection.update_many(filter, update)

    async def _take_one_by_one(self, candidates: Sequence[Document], update: Document) -> None:
        """The batch's write was refused because an item in it breaks the collection's
        rules (written past them, or before they changed): the others are taken one by
        one, and that one is set aside. Left in line, it would refuse every claim of its
        window, and the line would stop there for good."""
        for candidate in candidates:
            guard = {"_id": candidate["_id"], "place": candidate["place"], "status": PENDING}
            try:
                await self.collection.update_one(guard, update)
            except OperationFailure as exc:
                if exc.code != DOCUMENT_VALIDATION_FAILURE:
                    raise
                await self.set_aside(candidate["_id"], str(exc.details or exc)[:2000])

    async def set_aside(self, id: Any, why: str) -> None:
        """Move an item that cannot be written out of the queue, whole, into
        `queue_set_aside` (for an operator to mend and enqueue again), and say so."""
        document = await self.collection.find_one({"_id": id})
        if document is None:
            return
        logger.error(
            "%s %s breaks its collection's rules and is set aside: %s", self.queue, id, why
        )
        # Set aside before by a claimer that died before the delete: already there.
        with contextlib.suppress(DuplicateKeyError):
            await self.collection.database[SET_ASIDE].insert_one(
                {
                    "_id": f"{self.queue}:{id}",
                    "queue": self.queue,
                    "document": document,
                    "why": why,
                    "at": utcnow(),
                }
            )
        await self.collection.delete_one({"_id": id})

    async def leave(self, candidate: Document, fields: Mapping[str, Any]) -> bool:
        """Take a candidate out of the line unclaimed with `fields`: `due(until)` to wait,
        or another status (held)."""
        result = await self.collection.update_one(
            {"_id": candidate["_id"], "place": candidate["place"], "status": PENDING},
            {"$set": {**fields, "claimed_by": None}, **NOT_LINED},
        )
        return result.matched_count == 1

    async def reline(
        self,
        guards: Sequence[Mapping[str, Any]],
        fields: Mapping[str, Any] | None = None,
    ) -> int:
        """Put items back at the end of the line; how many went back.

        Each guard names one item by ``_id`` and the state it must still be in
        (another worker may have moved it meanwhile: then it is left alone).
        `fields` are set as it goes back (a status, a fresh count of attempts).
        """
        if not guards:
            return 0
        first = await self.counters.take(self.queue, len(guards))
        now = utcnow()
        relined = 0
        for offset, guard in enumerate(guards):
            changes = {
                **(fields or {}),
                "place": first + offset,
                "available_at": None,
                "lined_at": now,
                "claimed_by": None,
            }
            result = await self.collection.update_one(guard, {"$set": changes, **NOT_DUE})
            relined += result.matched_count
        return relined

    async def sweep(self, now: datetime) -> int:
        """Put back in line whoever is due again; how many.

        Due: pending out of the line with a `due_at` that has come (a back-off
        over, a lease ended), read through `due_at`; and stragglers, whose
        place is below the head, through `place`. Both ranges are bounded on
        both sides, so each read matches only what it puts back. Each goes
        back only while it is as it was read.
        """
        due_again = await self.collection.find(
            {"due_at": {"$gte": EPOCH, "$lte": now}}, {"_id": 1, "due_at": 1}
        ).to_list(None)
        guards: list[Document] = [
            {"_id": item["_id"], "status": PENDING, "due_at": item["due_at"]} for item in due_again
        ]
        head, _ = await self.counters.read(self.queue)
        stragglers = await self.collection.find(
            {"place": {"$gte": 0, "$lt": head}}, {"_id": 1, "place": 1}
        ).to_list(None)
        guards += [
            {"_id": item["_id"], "status": PENDING, "place": item["place"]} for item in stragglers
        ]
        return await self.reline(guards)


class AsyncLinedRepository(AsyncRepository[ModelT]):
    """A repository whose items queue in a line (the outbox, the webhook deliveries)."""

    queue_name: ClassVar[str]
    given_up_status: ClassVar[str]
    """What an item given up on becomes (failed e-mails, dead deliveries)."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        super().__init__(database)
        self.line = AsyncLine(self.collection, AsyncLineCounters(database), self.queue_name)

    async def enqueue(self, document: Document) -> bool:
        """Add one item, in line; False if one with the same key was already there."""
        await self.line.place([document])
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def enqueue_in(self, document: Document, session: AsyncClientSession) -> None:
        """Add one item as part of the caller's transaction: it is sent only if the
        transaction commits. Its key must be new (a duplicate aborts the transaction)."""
        await self.line.place([document])
        await self.collection.insert_one(document, session=session)

    async def enqueue_many(self, documents: Sequence[Document]) -> int:
        """Add many, in line; those already there are skipped. How many were new."""
        batch = [dict(document) for document in documents]
        await self.line.place(batch)
        inserted, _ = await self.insert_many_new(batch)
        return inserted

    async def sweep(self, now: datetime) -> int:
        """Put back in line the items due again (`AsyncLine.sweep`); how many."""
        return await self.line.sweep(now)

    async def take(
        self, candidates: Sequence[Document], owner: str, lease_until: datetime
    ) -> list[ModelT]:
        """Claim candidates of the line's window for `owner` (`AsyncLine.take`); those won.

        A won item that does not load (written by another tool, or by an old version
        with other rules) is given up on at once (`give_up_unreadable`): left claimed,
        it would come back after every lease, and hold up its whole batch each time.
        """
        claimed: list[ModelT] = []
        for won in await self.line.take(candidates, owner, lease_until):
            try:
                claimed.append(self.to_model(won))
            except ValidationError as exc:
                await self.give_up_unreadable(won, owner, describe_errors(exc.errors()))
        return claimed

    async def give_up_unreadable(self, document: Document, owner: str, why: str) -> None:
        """Give up on an item `owner` claimed that does not load: its queue's given-up
        status (redrivable once mended), with why; logged by id."""
        logger.error(
            "%s %s does not load and is given up on: %s", self.collection_name, document["_id"], why
        )
        await self.collection.update_one(
            {"_id": document["_id"], "claimed_by": owner, "status": PENDING},
            {
                "$set": {
                    "status": self.given_up_status,
                    "claimed_by": None,
                    "last_error": f"does not load: {why}"[:500],
                },
                **NOT_DUE,
            },
        )

    async def release(self, key: str, owner: str, attempts: int) -> bool:
        """A claimed item `owner` will not deal with after all goes back in line, its claim
        not counted as an attempt (`attempts`: its count before the claim)."""
        mine = {"_id": key, "claimed_by": owner, "status": PENDING}
        return await self.line.reline([mine], {"attempts": attempts}) == 1
