"""The change streams that turn committed changes into webhook deliveries.

One stream per collection, each filtered on the server to the changes that can
make an event; `mongoshop.webhooks.events` says which events a change makes,
`AsyncWebhookService.publish` makes one delivery per subscription. An event
that a transaction wrote and then aborted never reaches a stream: only
committed changes do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mongoshop._async.shop import AsyncShop
from mongoshop.streams.filters import CREDITS, NEW_OR_VERIFIED_USERS, PLACED_OR_CANCELLED_ORDERS
from mongoshop.webhooks.events import (
    Occurrence,
    from_ledger_change,
    from_order_change,
    from_product_change,
    from_user_change,
)
from mongoshop.worker.streams import BatchHandler as Batch
from mongoshop.worker.streams import StreamSpec

ORDERS_STREAM = "webhooks-orders"
USERS_STREAM = "webhooks-users"
PRODUCTS_STREAM = "webhooks-products"
LEDGER_STREAM = "webhooks-ledger"


def _as_change(document: Mapping[str, Any], at: Any) -> dict[str, Any]:
    """A document found by reconciliation, as the insert event that made it."""
    when = at if isinstance(at, datetime) else datetime.now(UTC)
    return {
        "operationType": "insert",
        "fullDocument": document,
        "documentKey": {"_id": document["_id"]},
        "wallTime": when,
    }


def webhook_streams(shop: AsyncShop) -> list[StreamSpec]:
    repositories = shop.repositories
    webhooks = shop.webhooks

    def publishing(events: Callable[[Mapping[str, Any]], Awaitable[list[Occurrence]]]) -> Batch:
        """The batch handler of a stream whose events `events` reads: one write for all."""

        async def batch(changes: Sequence[Mapping[str, Any]]) -> None:
            occurrences = [occurrence for change in changes for occurrence in await events(change)]
            await webhooks.publish(occurrences)

        return batch

    async def of_order(change: Mapping[str, Any]) -> list[Occurrence]:
        return list(from_order_change(change))

    async def of_user(change: Mapping[str, Any]) -> list[Occurrence]:
        return list(from_user_change(change))

    async def of_product(change: Mapping[str, Any]) -> list[Occurrence]:
        return list(from_product_change(change))

    async def of_ledger(change: Mapping[str, Any]) -> list[Occurrence]:
        account = await repositories.accounts.find_by_id(change["fullDocument"]["account_id"])
        return list(from_ledger_change(change, account.user_id if account else None))

    async def on_order(change: Mapping[str, Any]) -> None:
        await webhooks.publish(await of_order(change))

    async def on_user(change: Mapping[str, Any]) -> None:
        await webhooks.publish(await of_user(change))

    async def on_product(change: Mapping[str, Any]) -> None:
        await webhooks.publish(await of_product(change))

    async def on_ledger(change: Mapping[str, Any]) -> None:
        await webhooks.publish(await of_ledger(change))

    async def reconcile_orders(since: datetime) -> int:
        """After lost history: the orders placed since then (their ids are the events')."""
        published = 0
        async for order in repositories.orders.placed_since(since):
            published += await webhooks.publish(
                from_order_change(_as_change(order, order.get("created_at")))
            )
        return published

    async def reconcile_users(since: datetime) -> int:
        published = 0
        async for user in repositories.users.welcome_due_since(since):
            published += await webhooks.publish(
                from_user_change(_as_change(user, user.get("created_at")))
            )
        return published

    return [
        StreamSpec(
            name=ORDERS_STREAM,
            collection=repositories.orders.collection,
            operations=("insert", "update"),
            match=PLACED_OR_CANCELLED_ORDERS,
            full_document="updateLookup",
            handler=on_order,
            batch=publishing(of_order),
            reconcile=reconcile_orders,
        ),
        StreamSpec(
            name=USERS_STREAM,
            collection=repositories.users.collection,
            operations=("insert", "update"),
            match=NEW_OR_VERIFIED_USERS,
            full_document="updateLookup",
            handler=on_user,
            batch=publishing(of_user),
            reconcile=reconcile_users,
        ),
        StreamSpec(
            name=PRODUCTS_STREAM,
            collection=repositories.products.collection,
            operations=("update", "replace"),
            full_document="updateLookup",
            full_document_before_change="whenAvailable",
            handler=on_product,
            batch=publishing(of_product),
        ),
        StreamSpec(
            name=LEDGER_STREAM,
            collection=repositories.ledger.collection,
            operations=("insert",),
            match=CREDITS,
            handler=on_ledger,
            batch=publishing(of_ledger),
        ),
    ]
