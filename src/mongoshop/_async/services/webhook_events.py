"""What the worker's change streams call for the webhooks: the events each committed
change means, published (one delivery per subscription), and their reconciliation after
a stream lost its history. The mail's counterpart is `AsyncMailService`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mongoshop._async.repositories.orders import AsyncOrderRepository
from mongoshop._async.repositories.users import AsyncUserRepository
from mongoshop._async.repositories.wallet import AsyncAccountRepository
from mongoshop._async.services.webhooks import AsyncWebhookService
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


class AsyncWebhookEvents:
    def __init__(
        self,
        webhooks: AsyncWebhookService,
        orders: AsyncOrderRepository,
        users: AsyncUserRepository,
        accounts: AsyncAccountRepository,
    ) -> None:
        self.webhooks = webhooks
        self.orders = orders
        self.users = users
        self.accounts = accounts

    async def tell_orders(self, changes: Sequence[Change[OrderInDB]]) -> int:
        """`order.placed` and `order.cancelled`, in one write; how many deliveries were new."""
        return await self.webhooks.publish([o for c in changes for o in from_order_change(c)])

    async def tell_users(self, changes: Sequence[Change[UserInDB]]) -> int:
        """`user.registered`."""
        return await self.webhooks.publish([o for c in changes for o in from_user_change(c)])

    async def tell_products(self, changes: Sequence[Change[ProductInDB]]) -> int:
        """`product.out_of_stock` and `product.restocked`."""
        return await self.webhooks.publish([o for c in changes for o in from_product_change(c)])

    async def tell_credits(self, changes: Sequence[Change[LedgerEntryInDB]]) -> int:
        """`wallet.credited`, each with its account's owner (the accounts read at once)."""
        entries = [change.document for change in changes if change.document is not None]
        accounts = await self.accounts.find_by_ids(
            list(dict.fromkeys(entry.account_id for entry in entries))
        )
        occurrences = []
        for change in changes:
            account = None if change.document is None else accounts.get(change.document.account_id)
            occurrences += from_ledger_change(change, None if account is None else account.user_id)
        return await self.webhooks.publish(occurrences)

    async def reconcile_orders(self, since: datetime) -> int:
        """After lost history: the orders placed since then (their ids are the events')."""
        published = 0
        async for order in self.orders.placed_since(since):
            published += await self.tell_orders(
                [Change.inserted(order, order.id, order.created_at)]
            )
        return published

    async def reconcile_users(self, since: datetime) -> int:
        """After lost history: the users registered since then."""
        published = 0
        async for user in self.users.registered_since(since):
            published += await self.tell_users([Change.inserted(user, user.id, user.created_at)])
        return published
