"""The mail outbox: enqueue once, claim with a lease, record the outcome."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import ClassVar

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from mongoshop._async.repositories.base import AsyncRepository
from mongoshop.models.common import Document
from mongoshop.models.mail import SCRUBBED, MailStatus, OutboxCounts, OutboxItem

CLAIM_CANDIDATES = 8
"""Due e-mails looked at per claim: senders racing for the first one try the next ones."""


class AsyncOutboxRepository(AsyncRepository[OutboxItem]):
    collection_name = "mail_outbox"
    model = OutboxItem
    indexes: ClassVar[Sequence[IndexModel]] = (
        IndexModel([("status", ASCENDING), ("available_at", ASCENDING)], name="status_available"),
    )

    async def enqueue(self, document: Document) -> bool:
        """Add an e-mail; False if one with the same key was already enqueued (or sent)."""
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def enqueue_in(self, document: Document, session: AsyncClientSession) -> None:
        """Add an e-mail as part of the caller's transaction: it is sent only if the
        transaction commits. Its key must be new (a duplicate aborts the transaction)."""
        await self.collection.insert_one(document, session=session)

    async def enqueue_many(self, documents: Sequence[Document]) -> int:
        """Add many; those already there are skipped. How many were new."""
        inserted, _ = await self.insert_many_new(documents)
        return inserted

    async def claim(self, owner: str, now: datetime, lease: timedelta) -> OutboxItem | None:
        """Take the next due e-mail for `owner` until `now + lease`, atomically.

        Only one sender can win a given item: the claim is an ``update_one`` by
        ``_id`` whose filter still requires the item to be due, so of several
        senders that saw the same candidate exactly one matches it (the others
        move on to the next candidates). The candidates come from the
        `status_available` index; the read costs the due backlog, never the
        collection (``findAndModify`` would, on the embedded server).
        """
        due: Document = {"status": MailStatus.PENDING.value, "available_at": {"$lte": now}}
        candidates = await self.find_documents(
            due, projection={"_id": 1}, sort=[("available_at", ASCENDING)], limit=CLAIM_CANDIDATES
        )
        for candidate in candidates:
            claimed = await self.update_and_get(
                {"_id": candidate["_id"], **due},
                {
                    "$set": {"available_at": now + lease, "claimed_by": owner},
                    "$inc": {"attempts": 1},
                },
            )
            if claimed is not None:
                return claimed
        return None

    async def mark_sent(self, key: str, owner: str, at: datetime, *, scrub: bool = False) -> bool:
        """Record a sent e-mail; `scrub`: its text held a secret, which is not kept."""
        fields: Document = {"status": MailStatus.SENT.value, "sent_at": at, "last_error": None}
        if scrub:
            fields |= {"text": SCRUBBED, "html": SCRUBBED}
        return (
            await self.update(
                {"_id": key, "claimed_by": owner, "status": MailStatus.PENDING.value},
                {"$set": fields},
            )
            == 1
        )

    async def mark_failed_attempt(
        self, key: str, owner: str, error: str, retry_at: datetime | None, *, scrub: bool = False
    ) -> bool:
        """Record a failed send: retry at `retry_at`, or give up (`failed`) when it is None
        (then, with `scrub`, its secret-bearing text is not kept either)."""
        fields: Document = {"last_error": error[:500], "claimed_by": None}
        if retry_at is None:
            fields["status"] = MailStatus.FAILED.value
            if scrub:
                fields |= {"text": SCRUBBED, "html": SCRUBBED}
        else:
            fields["available_at"] = retry_at
        return (
            await self.update(
                {"_id": key, "claimed_by": owner, "status": MailStatus.PENDING.value},
                {"$set": fields},
            )
            == 1
        )

    async def counts(self, total: int | None = None) -> OutboxCounts:
        """How many e-mails are in each state, at a cost that does not grow with the sent ones.

        Pending and failed e-mails are few (the backlog and the given-up) and
        counted through the status index. Sent ones are nearly all of the
        outbox, and grow for ever: counting them would read every one, so they
        are the collection's own count (its metadata) minus the others. That
        count can be briefly off after an unclean shutdown of MongoDB: fine for
        a dashboard and a gauge, which is all this serves. `total`: that count,
        when the caller has it already (cached).
        """
        counted = {
            status.value: await self.count({"status": status.value})
            for status in MailStatus
            if status is not MailStatus.SENT
        }
        if total is None:
            total = await self.count()
        counted[MailStatus.SENT.value] = max(0, total - sum(counted.values()))
        return OutboxCounts(**counted)

    async def oldest_pending_at(self) -> datetime | None:
        """When the e-mail that has waited longest to be sent was enqueued (None: none waits).

        The pending e-mails are the queue's backlog, found through the status index;
        the sort keeps only the first of them (a top-1 sort), so no index on
        `created_at` is needed, and none is maintained on every send.
        """
        documents = await self.find_documents(
            {"status": MailStatus.PENDING.value},
            projection={"_id": 0, "created_at": 1},
            sort=[("created_at", ASCENDING)],
            limit=1,
        )
        if not documents:
            return None
        created_at: datetime = documents[0]["created_at"]
        return created_at
