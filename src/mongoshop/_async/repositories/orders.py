"""The orders collection: orders by buyer, by period for analytics, by idempotency key."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from mongoshop._async.repositories.base import BY_ID
from mongoshop._async.repositories.idempotent import AsyncIdempotentRepository, idempotency_index
from mongoshop.models.common import Document
from mongoshop.models.orders import (
    CategorySales,
    OrderInDB,
    OrderStatus,
    SalesPeriod,
    SalesReport,
    SalesSummary,
)

NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]


class AsyncOrderRepository(AsyncIdempotentRepository[OrderInDB]):
    collection_name = "orders"
    model = OrderInDB
    indexes: ClassVar[Sequence[IndexModel]] = (
        idempotency_index(),
        IndexModel(
            [("user_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="user_newest",
        ),
        IndexModel([("status", ASCENDING), ("created_at", ASCENDING)], name="status_created"),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="newest"),
    )

    async def page_for(
        self, user_id: ObjectId | None, *, skip: int, limit: int
    ) -> tuple[list[OrderInDB], int]:
        """A buyer's orders (or everyone's, for `None`), newest first, and the total."""
        filter: Document = {} if user_id is None else {"user_id": user_id}
        items = await self.find_many(filter, sort=NEWEST_FIRST, skip=skip, limit=limit)
        return items, await self.count(filter)

    async def newest(self, limit: int) -> list[OrderInDB]:
        """Everyone's latest `limit` orders, newest first (the `newest` index)."""
        return await self.find_many({}, sort=NEWEST_FIRST, limit=limit)

    async def mark_cancelled(
        self, order_id: ObjectId, at: datetime, *, session: AsyncClientSession | None = None
    ) -> OrderInDB | None:
        """Completed → cancelled, once: a second attempt matches nothing and returns None."""
        document = await self.collection.find_one_and_update(
            {"_id": order_id, "status": OrderStatus.COMPLETED.value},
            {"$set": {"status": OrderStatus.CANCELLED.value, "cancelled_at": at}},
            hint=BY_ID,
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        return None if document is None else self.to_model(document)

    @staticmethod
    def sales_pipeline(period: SalesPeriod) -> list[Document]:
        """The guide's pipeline, with integer money and a correct average order value."""
        return [
            {
                "$match": {
                    "status": OrderStatus.COMPLETED.value,
                    "created_at": {"$gte": period.start, "$lt": period.end},
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
                    "_id": {"$ifNull": ["$product.category", "(deleted products)"]},
                    "total_sales": {
                        "$sum": {"$multiply": ["$items.quantity", "$items.unit_price"]}
                    },
                    "total_items": {"$sum": "$items.quantity"},
                    "unique_products": {"$addToSet": "$items.product_id"},
                    "orders": {"$addToSet": {"id": "$_id", "total": "$total.amount"}},
                }
            },
            {
                "$addFields": {
                    "unique_products_count": {"$size": "$unique_products"},
                    "orders_count": {"$size": "$orders"},
                    # `$map`, not the path "$orders.total": the embedded server does not
                    # resolve a path through an array of documents inside an expression.
                    "avg_order_value": {
                        "$round": [
                            {"$avg": {"$map": {"input": "$orders", "in": "$$this.total"}}},
                            0,
                        ]
                    },
                }
            },
            {
                "$project": {
                    "_id": 0,
                    "category": "$_id",
                    "total_sales": 1,
                    "total_items": 1,
                    "unique_products_count": 1,
                    "orders_count": 1,
                    "avg_order_value": 1,
                }
            },
            {"$sort": {"total_sales": -1, "category": 1}},
        ]

    async def sales_report(self, period: SalesPeriod, currency: str) -> SalesReport:
        cursor = await self.collection.aggregate(self.sales_pipeline(period))
        rows: list[dict[str, Any]] = await cursor.to_list()
        by_category = [
            CategorySales(
                category=row["category"],
                total_sales=int(row["total_sales"]),
                total_items=int(row["total_items"]),
                unique_products_count=row["unique_products_count"],
                orders_count=row["orders_count"],
                avg_order_value=int(row["avg_order_value"] or 0),
            )
            for row in rows
        ]
        orders_count = await self.count(
            {
                "status": OrderStatus.COMPLETED.value,
                "created_at": {"$gte": period.start, "$lt": period.end},
            }
        )
        return SalesReport(
            period=period,
            summary=SalesSummary(
                total_sales=sum(row.total_sales for row in by_category),
                total_items=sum(row.total_items for row in by_category),
                orders_count=orders_count,
                categories_count=len(by_category),
                currency=currency,
            ),
            by_category=by_category,
        )
