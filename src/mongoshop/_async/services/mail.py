"""What the events enqueue: welcome and order e-mails, once each, and reconciliation."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from bson import ObjectId

from mongoshop._async.compat import Background
from mongoshop._async.repositories.orders import AsyncOrderRepository
from mongoshop._async.repositories.outbox import AsyncOutboxRepository
from mongoshop._async.repositories.users import AsyncUserRepository
from mongoshop._async.services.caching import cached_total
from mongoshop.cache import Listings
from mongoshop.clock import Clock, utcnow
from mongoshop.mail.documents import outbox_document, welcome_document
from mongoshop.models.common import Document
from mongoshop.models.mail import MailKind, OutboxCounts, OutboxStats
from mongoshop.models.money import format_money
from mongoshop.models.orders import OrderInDB
from mongoshop.models.users import UserInDB
from mongoshop.streams.changes import Change

logger = logging.getLogger(__name__)

RECONCILE_BATCH = 500


def _welcomes(change: Change[UserInDB]) -> bool:
    """Whether a users change is the moment to welcome its user."""
    user = change.document
    if user is None or not user.email_verified or not user.welcome:
        return False
    if change.operation == "update":
        return "email_verified" in change.updated_fields
    return change.operation == "insert"


def _confirmation(
    order: OrderInDB, buyer: UserInDB, trace: Mapping[str, str] | None = None
) -> Document:
    """The confirmation e-mail of an order."""
    currency = order.total.currency
    lines = [
        f"{item.quantity} x {item.name} — {format_money(item.quantity * item.unit_price, currency)}"
        for item in order.items
    ]
    return outbox_document(
        MailKind.ORDER_CONFIRMATION,
        order.id,
        buyer.email,
        buyer.preferences.language,
        {
            "name": buyer.name,
            "order_id": str(order.id),
            "total": format_money(order.total.amount, currency),
        },
        lines,
        trace=trace,
    )


class AsyncMailService:
    def __init__(
        self,
        outbox: AsyncOutboxRepository,
        users: AsyncUserRepository,
        orders: AsyncOrderRepository,
        *,
        totals: Listings | None = None,
        background: Background | None = None,
        clock: Clock = utcnow,
    ) -> None:
        """`totals`: the outbox's size, cached where a change stream drops it on every
        insert or delete (the API; see `counts`)."""
        self.clock = clock
        self.outbox = outbox
        self.users = users
        self.orders = orders
        self.totals = totals
        self.background = background

    async def welcome(self, user: UserInDB) -> bool:
        """Enqueue the welcome e-mail of a new user."""
        return await self.outbox.enqueue(welcome_document(user))

    async def order_confirmation(self, order: OrderInDB) -> bool:
        """Enqueue the confirmation of a new order."""
        return await self.confirm_orders([order]) == 1

    async def confirm_orders(
        self,
        orders: Sequence[OrderInDB],
        traces: Mapping[ObjectId, Mapping[str, str] | None] | None = None,
    ) -> int:
        """Enqueue the confirmations of new orders in one write; how many were new. Their
        buyers are read in one read too. `traces`: each order's change event's trace
        context, where tracing is on."""
        buyers = await self.users.find_by_ids([order.user_id for order in orders])
        documents = []
        for order in orders:
            buyer = buyers.get(order.user_id)
            if buyer is None:
                logger.warning("order %s has no buyer any more; no confirmation", order.id)
                continue
            documents.append(_confirmation(order, buyer, (traces or {}).get(order.id)))
        return await self.outbox.enqueue_many(documents)

    async def welcome_if_verified(self, change: Change[UserInDB]) -> bool:
        """A users change: welcome the user whose address is now confirmed."""
        return await self.welcome_all([change]) == 1

    async def welcome_all(self, changes: Sequence[Change[UserInDB]]) -> int:
        """Users change events: welcome, in one write, the users whose address is now
        confirmed; how many were new.

        An account made verified (by an admin) is welcomed on its insert; a
        self-registered one when its verification sets `email_verified`; one created
        in bulk without a welcome (``welcome: false``, the seed command's default) never.
        """
        return await self.outbox.enqueue_many(
            [
                welcome_document(change.document, change.trace)
                for change in changes
                if _welcomes(change) and change.document is not None
            ]
        )

    async def confirm_placed(self, changes: Sequence[Change[OrderInDB]]) -> int:
        """Orders change events: confirm, in one write, the orders they insert."""
        placed = [c for c in changes if c.operation == "insert" and c.document is not None]
        return await self.confirm_orders(
            [change.document for change in placed if change.document is not None],
            {change.key: change.trace for change in placed},
        )

    async def reconcile_welcomes(self, since: datetime) -> int:
        """Enqueue welcomes for users created or verified since `since` that have none.

        Used when a change stream's history was lost: it replays what the
        events would have done, relying on the outbox key to skip the rest.
        """
        enqueued = 0
        batch: list[Document] = []
        async for user in self.users.registered_since(since, batch_size=RECONCILE_BATCH):
            if not user.welcome:
                continue
            batch.append(welcome_document(user))
            if len(batch) >= RECONCILE_BATCH:
                enqueued += await self.outbox.enqueue_many(batch)
                batch = []
        enqueued += await self.outbox.enqueue_many(batch)
        return enqueued

    async def reconcile_order_confirmations(self, since: datetime) -> int:
        """Enqueue confirmations for orders placed since `since` that have none; how many."""
        enqueued = 0
        batch: list[OrderInDB] = []
        async for order in self.orders.placed_since(since):
            batch.append(order)
            if len(batch) >= RECONCILE_BATCH:
                enqueued += await self.confirm_orders(batch)
                batch = []
        enqueued += await self.confirm_orders(batch)
        return enqueued

    async def counts(self) -> OutboxCounts:
        """How many e-mails are in each state.

        The outbox's size (what the sent ones are counted from) is the one
        figure that costs a pass over the collection on the embedded server;
        only an insert or a delete changes it, so it is cached where the shop
        has `totals`, and every status change is still counted fresh.
        """
        total = await cached_total(self.totals, "outbox", self.outbox.count, self.background)
        return await self.outbox.counts(total)

    async def outbox_stats(self) -> OutboxStats:
        """Counts by status and the age of the oldest e-mail still to send."""
        counts = await self.counts()
        oldest = await self.outbox.oldest_pending_at()
        now = self.clock()
        return OutboxStats(
            **counts.model_dump(),
            oldest_pending_at=oldest,
            oldest_pending_age_seconds=None
            if oldest is None
            else max(0, int((now - oldest).total_seconds())),
            as_of=now,
        )
