"""What the webhooks do with committed changes: publish the events they mean.

`mongoshop.webhooks.events` says which events a change makes;
`AsyncWebhookService.publish` makes one delivery per subscription, in one write
for a batch of changes. An event that a transaction wrote and then aborted never
reaches a stream: only committed changes do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mongoshop._async.shop import AsyncShop
from mongoshop.models.orders import OrderInDB
from mongoshop.models.products import ProductInDB
from mongoshop.models.users import UserInDB
from mongoshop.models.wallet import LedgerEntryInDB
from mongoshop.streams.changes import Change
from mongoshop.webhooks.events import (
    from_ledger_change,
    from_order_change,
    from_product_change,
    from_user_change,
)
from mongoshop.worker.reactions import Reaction


@dataclass(frozen=True)
class WebhookReactions:
    orders: Reaction[OrderInDB]
    users: Reaction[UserInDB]
    products: Reaction[ProductInDB]
    ledger: Reaction[LedgerEntryInDB]


def webhook_reactions(shop: AsyncShop) -> WebhookReactions:
    repositories = shop.repositories
    publish = shop.webhooks.publish

    async def orders(changes: Sequence[Change[OrderInDB]]) -> int:
        return await publish([o for change in changes for o in from_order_change(change)])

    async def users(changes: Sequence[Change[UserInDB]]) -> int:
        return await publish([o for change in changes for o in from_user_change(change)])

    async def products(changes: Sequence[Change[ProductInDB]]) -> int:
        return await publish([o for change in changes for o in from_product_change(change)])

    async def ledger(changes: Sequence[Change[LedgerEntryInDB]]) -> int:
        ids = [c.document.account_id for c in changes if c.document is not None]
        accounts = await repositories.accounts.find_by_ids(list(dict.fromkeys(ids)))
        occurrences = []
        for change in changes:
            account = None if change.document is None else accounts.get(change.document.account_id)
            occurrences += from_ledger_change(change, None if account is None else account.user_id)
        return await publish(occurrences)

    async def reconcile_orders(since: datetime) -> int:
        """After lost history: the orders placed since then (their ids are the events')."""
        published = 0
        async for order in repositories.orders.placed_since(since):
            published += await orders([Change.inserted(order, order.id, order.created_at)])
        return published

    async def reconcile_users(since: datetime) -> int:
        published = 0
        async for user in repositories.users.registered_since(since):
            published += await users([Change.inserted(user, user.id, user.created_at)])
        return published

    return WebhookReactions(
        orders=Reaction(orders, reconcile_orders),
        users=Reaction(users, reconcile_users),
        products=Reaction(products),
        ledger=Reaction(ledger),
    )
