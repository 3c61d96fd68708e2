"""The orders collection: orders by buyer, by period for analytics, by idempotency key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import ClassVar

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from mongoshop._async.repositories.base import NEWEST_FIRST, RECENT_WINDOWS
from mongoshop._async.repositories.idempotent import (
    AsyncIdempotentRepository,
    idempotency_index,
    with_key,
)
from mongoshop.clock import utcnow
from mongoshop.models.common import Document
from mongoshop.models.orders import ORDER_VERSION, OrderInDB, OrderItem, OrderStatus
from mongoshop.models.sales import DELETED, CategoryDay, DaySales
from mongoshop.observability.tracing import Carrier


class AsyncOrderRepository(AsyncIdempotentRepository[OrderInDB]):
    collection_name = "orders"
    model = OrderInDB
    listing_fields: ClassVar[frozenset[str]] = frozenset({"created_at"})
    """What everyone's orders are sorted by: only a change to it (or a new order) moves a
    page; a cancellation changes the status, read fresh with the documents."""
    indexes: ClassVar[Sequence[IndexModel]] = (
        idempotency_index(),
        IndexModel(
            [("user_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="user_newest",
        ),
        IndexModel([("status", ASCENDING), ("created_at", ASCENDING)], name="status_created"),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="newest"),
    )

    async def record(
        self,
        *,
        user_id: ObjectId,
        account_id: ObjectId,
        items: Sequence[OrderItem],
        currency: str,
        request_hash: str,
        key: str | None,
        at: datetime,
        trace: Carrier | None = None,
        session: AsyncClientSession | None = None,
    ) -> OrderInDB:
        """A completed order of `items` at their snapshotted prices, with its total and
        its Idempotency-Key (`key`, or none: the partial index then skips it). `trace`:
        the context of the request that placed it, where tracing is on (its e-mail and
        webhooks continue that trace)."""
        document = with_key(
            {
                "user_id": user_id,
                "account_id": account_id,
                "items": [item.model_dump() for item in items],
                "total": {
                    "amount": sum(item.quantity * item.unit_price for item in items),
                    "currency": currency,
                },
                "status": OrderStatus.COMPLETED.value,
                "request_hash": request_hash,
                "schema_version": ORDER_VERSION,
                "item_count": sum(item.quantity for item in items),
                "created_at": at,
                "cancelled_at": None,
            },
            key,
        )
        if trace is not None:
            document["trace"] = trace
        document["_id"] = await self.create(document, session=session)
        return self.to_model(document)

    async def page_for(
        self, user_id: ObjectId | None, *, skip: int, limit: int, after: ObjectId | None = None
    ) -> list[OrderInDB]:
        """A buyer's orders (or everyone's, for `None`), newest first: one page.

        After the order `after` when it is given (keyset pagination: the cost
        of the page at any depth), else after `skip` orders.
        """
        if user_id is None:
            return await self.newest(limit, skip=skip, after=after)
        filter: Document = {"user_id": user_id}
        if after is not None:
            at = await self.cursor_time(filter, after, "order")
            return await self.newest_before(filter, at, after, limit=limit)
        return await self.find_many(filter, sort=NEWEST_FIRST, skip=skip, limit=limit)

    async def count_for(self, user_id: ObjectId | None) -> int:
        """How many orders a buyer has (through its index), or everyone (a count kept by
        the collection on MongoDB; a pass over it on the embedded server, so the API
        caches that one: `mongoshop.cache.Listings`)."""
        return await self.count(None if user_id is None else {"user_id": user_id})

    async def newest(
        self,
        limit: int,
        *,
        skip: int = 0,
        after: ObjectId | None = None,
        now: datetime | None = None,
    ) -> list[OrderInDB]:
        """Everyone's latest orders, newest first, after `skip` or the order `after`.

        Read in a window of recent time (from now, or from the order `after`)
        that widens until it holds the page (`RECENT_WINDOWS`): if the window
        yields a full page, the newest `skip + limit` orders are all in it, so
        the page is the same as the unbounded query's.
        """
        at = None if after is None else await self.cursor_time({}, after, "order")
        ceiling = at if at is not None else now or utcnow()
        for window in RECENT_WINDOWS:
            since = None if window is None else ceiling - window
            if after is not None:
                found = await self.newest_before({}, at, after, limit=limit, since=since)
            else:
                filter: Document = {} if since is None else {"created_at": {"$gte": since}}
                found = await self.find_many(filter, sort=NEWEST_FIRST, skip=skip, limit=limit)
            if len(found) == limit or window is None:
                return found
        raise AssertionError("unreachable: the last window has no bound")

    async def placed_since(self, since: datetime) -> AsyncIterator[OrderInDB]:
        """Every order placed since `since`, oldest first, streamed (the `newest` index)."""
        async for order in self.iterate({"created_at": {"$gte": since}}):
            yield order

    async def mark_cancelled(
        self, order_id: ObjectId, at: datetime, *, session: AsyncClientSession | None = None
    ) -> OrderInDB | None:
        """Completed → cancelled, once: a second attempt matches nothing and returns None."""
        return await self.update_and_get(
            {"_id": order_id, "status": OrderStatus.COMPLETED.value},
            {"$set": {"status": OrderStatus.CANCELLED.value, "cancelled_at": at}},
            session=session,
        )

    @staticmethod
    def sales_pipeline(start: datetime, end: datetime) -> list[Document]:
        """The guide's pipeline, with integer money and distinct counts that never hold a
        growing set in one document, one row per (UTC day, category, order).

        The guide collects every order of a category with ``$addToSet``: one
        document that grows with the period's orders until it meets MongoDB's
        16 MB document and 100 MB stage limits. Here the rows stay the size of
        one order, and `sales_by_day` adds them up per day as they stream in.
        """
        category = {"$ifNull": ["$product.category", DELETED]}
        return [
            {
                "$match": {
                    "status": OrderStatus.COMPLETED.value,
                    "created_at": {"$gte": start, "$lt": end},
                }
            },
            {"$unwind": "$items"},
            {
                "$lookup": {
                    "from": "products",
                    "localField": "items.product_id",
                    "foreignField": "_id",
                    "as": "product",
                }
            },
            {"$unwind": {"path": "$product", "preserveNullAndEmptyArrays": True}},
            {
                "$group": {
                    "_id": {"category": category, "order": "$_id"},
                    "day": {
                        "$first": {"$dateToString": {"format": "%Y-%m-%d", "date": "$created_at"}}
                    },
                    "sales": {"$sum": {"$multiply": ["$items.quantity", "$items.unit_price"]}},
                    "items": {"$sum": "$items.quantity"},
                    "order_total": {"$first": "$total.amount"},
                    "products": {"$addToSet": "$items.product_id"},
                }
            },
        ]

    async def sales_by_day(self, start: datetime, end: datetime) -> list[DaySales]:
        """The completed orders created in [start, end), added up per UTC day (a day of
        the span with no order has no piece)."""
        days: dict[str, DaySales] = {}
        rows: dict[tuple[str, str], CategoryDay] = {}
        orders: dict[str, set[ObjectId]] = {}
        products: dict[tuple[str, str], set[str]] = {}
        cursor = await self.collection.aggregate(self.sales_pipeline(start, end))
        async for found in cursor:
            day, category = found["day"], found["_id"]["category"]
            piece = days.get(day)
            if piece is None:
                piece = days[day] = DaySales(day=day)
            row = rows.get((day, category))
            if row is None:
                row = rows[(day, category)] = CategoryDay(category=category)
                piece.categories.append(row)
            row.total_sales += int(found["sales"])
            row.total_items += int(found["items"])
            row.orders_count += 1
            row.order_totals += int(found["order_total"])
            products.setdefault((day, category), set()).update(map(str, found["products"]))
            orders.setdefault(day, set()).add(found["_id"]["order"])
        for (day, category), ids in products.items():
            rows[(day, category)].products = sorted(ids)
        for day, piece in days.items():
            piece.orders_count = len(orders[day])
        return [days[day] for day in sorted(days)]
