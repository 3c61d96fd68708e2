"""The mail outbox: enqueue once, claim with a lease, record the outcome, redrive."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import ClassVar

from pymongo import ASCENDING, IndexModel

from mongoshop._async.repositories.line import (
    DUE_INDEX,
    NOT_DUE,
    PLACE_INDEX,
    AsyncLinedRepository,
    due,
    spread,
)
from mongoshop.models.common import Document
from mongoshop.models.mail import SCRUBBED, MailStatus, OutboxCounts, OutboxItem

REDRIVEN: Document = {"status": MailStatus.PENDING.value, "attempts": 0}
"""What a redriven e-mail becomes (its last error stays, for the record)."""
REDRIVABLE: Document = {"status": MailStatus.FAILED.value, "text": {"$ne": SCRUBBED}}
"""Given up on, and still whole: one whose text held a secret (a code) was scrubbed, and
sending it again would say nothing; its reader asks for a new code instead."""


class AsyncOutboxRepository(AsyncLinedRepository[OutboxItem]):
    """The e-mails to send: a line (`mongoshop._async.repositories.line`) keyed by e-mail,
    so each is enqueued once."""

    collection_name = "mail_outbox"
    queue_name = "mail"
    given_up_status = MailStatus.FAILED.value
    model = OutboxItem
    indexes: ClassVar[Sequence[IndexModel]] = (
        IndexModel([("status", ASCENDING), ("available_at", ASCENDING)], name="status_available"),
        PLACE_INDEX,
        DUE_INDEX,
    )

    async def claim(self, owner: str, now: datetime, lease: timedelta) -> OutboxItem | None:
        """Take the next e-mail in line for `owner` until `now + lease`, atomically."""
        claimed = await self.claim_some(owner, now, lease, 1)
        return claimed[0] if claimed else None

    async def claim_some(
        self, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxItem]:
        """Take up to `limit` e-mails in line for `owner` until `now + lease`, atomically.

        The candidates come from one read of the line's window (`AsyncLine`: its
        cost does not grow with the backlog), and are taken in one guarded write
        (`AsyncLine.take`: each is won by one sender). Each sender tries them in
        an order of its own, so that senders racing for the same window mostly
        take different items; one that lost them all tries the rest of the window.
        """
        candidates = spread(await self.line.candidates({"_id": 1}))
        for start in range(0, len(candidates), limit):
            won = await self.take(candidates[start : start + limit], owner, now + lease)
            if won:
                return won
        return []

    async def mark_sent(self, key: str, owner: str, at: datetime, *, scrub: bool = False) -> bool:
        """Record a sent e-mail; `scrub`: its text held a secret, which is not kept."""
        fields: Document = {"status": MailStatus.SENT.value, "sent_at": at, "last_error": None}
        if scrub:
            fields |= {"text": SCRUBBED, "html": SCRUBBED}
        mine = {"_id": key, "claimed_by": owner, "status": MailStatus.PENDING.value}
        return await self.update(mine, {"$set": fields, **NOT_DUE}) == 1

    async def mark_failed_attempt(
        self, key: str, owner: str, error: str, retry_at: datetime | None, *, scrub: bool = False
    ) -> bool:
        """Record a failed send: retry at `retry_at`, or give up (`failed`) when it is None
        (then, with `scrub`, its secret-bearing text is not kept either)."""
        fields: Document = {"last_error": error[:500], "claimed_by": None}
        update: Document = {"$set": fields}
        if retry_at is None:
            fields["status"] = MailStatus.FAILED.value
            if scrub:
                fields |= {"text": SCRUBBED, "html": SCRUBBED}
            update |= NOT_DUE
        else:
            fields |= due(retry_at)
        mine = {"_id": key, "claimed_by": owner, "status": MailStatus.PENDING.value}
        return await self.update(mine, update) == 1

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

    async def redrive(self, key: str) -> bool:
        """An e-mail given up on (`failed`) goes back in line with a new round of
        attempts; False when it is not failed (sent, pending, or unknown)."""
        guard = {"_id": key, **REDRIVABLE}
        return await self.line.reline([guard], REDRIVEN) == 1

    async def redrive_failed(self) -> int:
        """Every e-mail given up on goes back in line; how many (read through the status
        index: the failed ones only)."""
        failed = await self.find_documents(
            {"status": MailStatus.FAILED.value}, projection={"_id": 1, "text": 1}, limit=0
        )
        guards = [{"_id": item["_id"], **REDRIVABLE} for item in failed if item["text"] != SCRUBBED]
        return await self.line.reline(guards, REDRIVEN)
