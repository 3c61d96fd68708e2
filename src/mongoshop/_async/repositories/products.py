"""The products collection: catalog search, stock guarded in the filter, bulk prices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import BulkWriteError

from mongoshop._async.repositories.base import AsyncRepository
from mongoshop.errors import Conflict, NotFound, OutOfStock, StockLimitExceeded
from mongoshop.models.common import Document, dotted
from mongoshop.models.products import (
    MAX_QUANTITY,
    SORT_PATHS,
    CategoryStats,
    PriceBucket,
    ProductCreate,
    ProductInDB,
    ProductQuery,
    ProductStats,
    ProductTotals,
    ProductUpdate,
    TopProduct,
)
from mongoshop.search import index_tokens, query_tokens, split_all


def product_tokens(name: str, category: str, tags: Sequence[str]) -> list[str]:
    """What a product is found by: the words of its name, its category and its tags."""
    return index_tokens(name, category, *tags)


def product_document(data: ProductCreate, at: datetime) -> Document:
    """The stored shape of a new product (the fillers of the benchmarks insert it raw)."""
    return {
        **data.model_dump(),
        "created_at": at,
        "updated_at": at,
        "search_tokens": product_tokens(data.name, data.category, data.tags),
    }


def _write_errors(exc: BulkWriteError) -> list[tuple[int, str]]:
    return [
        (error["index"], f"refused by the database (code {error.get('code')})")
        for error in exc.details.get("writeErrors", [])
    ]


MAX_SNAPSHOT_READS = 3
"""Reads of a product whose price changes while it is ordered, before giving up."""

PRICE_BOUNDARIES = [0, 1_000, 5_000, 10_000, 50_000, 100_000]
"""Bucket edges of the dashboard's price distribution, in minor units."""


class AsyncProductRepository(AsyncRepository[ProductInDB]):
    collection_name = "products"
    model = ProductInDB
    listing_fields: ClassVar[frozenset[str]] = frozenset(
        {"category", "price", "tags", "search_tokens", "name", "created_at", "reviews"}
    )
    """What `search` filters or sorts on: a change to another field (stock) moves no page."""
    pre_images: ClassVar[bool] = True
    """The webhook stream tells a restock (stock 0 → more) from the stock before a change."""
    indexes: ClassVar[Sequence[IndexModel]] = (
        IndexModel([("category", ASCENDING), ("price.amount", ASCENDING)], name="category_price"),
        IndexModel([("category", ASCENDING), ("created_at", DESCENDING)], name="category_created"),
        IndexModel([("tags", ASCENDING)], name="tags"),
        IndexModel([("search_tokens", ASCENDING)], name="search_tokens"),
        # The sorts of `search` end with `_id` as a tie-break: an index serves such a
        # sort only if it ends with `_id` too (else a full scan and an in-memory sort).
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)], name="created_at_id"),
        IndexModel([("price.amount", ASCENDING), ("_id", ASCENDING)], name="price_id"),
        IndexModel([("name", ASCENDING), ("_id", ASCENDING)], name="name_id"),
        IndexModel([("reviews.rating", DESCENDING), ("_id", DESCENDING)], name="rating_id"),
    )

    @staticmethod
    def filters_for(query: ProductQuery) -> list[Document] | None:
        """The catalog query as ``$match`` filters, the leading one first; None matches nothing.

        User input is only ever a value: never a regex, never an operator. Words
        lead (an equality on the rarest-looking one), else tags; the other words
        and tags are checked after it (see `mongoshop.search.split_all`).
        """
        leading: Document = {}
        after: Document = {}
        if query.category is not None:
            leading["category"] = query.category
        price: Document = {}
        if query.min_price is not None:
            price["$gte"] = query.min_price
        if query.max_price is not None:
            price["$lte"] = query.max_price
        if price:
            leading["price.amount"] = price
        if query.q:
            tokens = query_tokens(query.q)
            if not tokens:  # no usable word: nothing, rather than everything
                return None
            first, rest = split_all("search_tokens", tokens)
            leading |= first
            after |= rest
        if query.tags:
            if query.q:
                after["tags"] = {"$all": list(dict.fromkeys(query.tags))}
            else:
                first, rest = split_all("tags", query.tags)
                leading |= first
                after |= rest
        return [leading, after]

    @staticmethod
    def sort_for(query: ProductQuery) -> list[tuple[str, int]]:
        direction = ASCENDING if query.order == "asc" else DESCENDING
        return [(SORT_PATHS[query.sort], direction), ("_id", direction)]

    async def search(
        self, query: ProductQuery, *, skip: int, limit: int
    ) -> tuple[list[ProductInDB], int]:
        filters = self.filters_for(query)
        if filters is None:
            return [], 0
        return await self.page(filters, self.sort_for(query), skip=skip, limit=limit)

    async def change_stock(
        self,
        product_id: ObjectId,
        change: int,
        at: datetime,
        *,
        session: AsyncClientSession | None = None,
    ) -> ProductInDB:
        """Add to or take from the stock; the guard is in the filter, so it never goes negative.

        Concurrent subtracts cannot oversell: each one matches only while
        enough stock remains at the moment it is applied. Likewise an addition
        never takes the stock past `MAX_QUANTITY` (a product the model could
        not load any more).
        """
        guard: Document = {}
        refused: OutOfStock | StockLimitExceeded
        if change > 0:
            guard["inventory.quantity"] = {"$lte": MAX_QUANTITY - change}
            refused = StockLimitExceeded(
                f"product {product_id} cannot hold more than {MAX_QUANTITY} in stock"
            )
        else:
            guard["inventory.quantity"] = {"$gte": -change}
            refused = OutOfStock(f"product {product_id} has fewer than {-change} in stock")
        return await self.guarded_update(
            {"_id": product_id},
            guard,
            {"$inc": {"inventory.quantity": change}, "$set": {"updated_at": at}},
            refused=refused,
            missing=NotFound(f"product {product_id} not found"),
            session=session,
        )

    async def take_stock(
        self,
        seen: ProductInDB,
        quantity: int,
        at: datetime,
        *,
        session: AsyncClientSession,
    ) -> ProductInDB:
        """Take `quantity` of the product `seen` shows, at its price and name; the product as
        it was when taken (what an order snapshots).

        The stock guard and the price and name the caller saw are all in the
        update's filter: when they still hold (the usual case: the product was
        read just before the transaction), taking the stock is one round trip,
        and the snapshot is exactly what was committed. When the price or name
        changed meanwhile, the product is read again (in the session) and taken
        at what it shows now.
        """
        current = seen
        for _ in range(MAX_SNAPSHOT_READS):
            guard: Document = {
                "inventory.quantity": {"$gte": quantity},
                "price.amount": current.price.amount,
                "price.currency": current.price.currency,
                "name": current.name,
            }
            update = {"$inc": {"inventory.quantity": -quantity}, "$set": {"updated_at": at}}
            if await self.update({"_id": current.id, **guard}, update, session=session):
                return current
            fresh = await self.find_by_id(current.id, session=session)
            if fresh is None:
                raise NotFound(f"product {current.id} not found")
            if fresh.inventory.quantity < quantity:
                raise OutOfStock(f"product {current.id} has fewer than {quantity} in stock")
            current = fresh
        raise Conflict(f"product {seen.id} changed while it was being ordered; try again")

    async def add(self, data: ProductCreate, at: datetime) -> ProductInDB:
        """A new product."""
        document = product_document(data, at)
        document["_id"] = await self.create(document)
        return self.to_model(document)

    async def add_new(
        self, products: Sequence[tuple[ObjectId, ProductCreate]], at: datetime
    ) -> tuple[int, int]:
        """Insert (id, product) pairs with one unordered bulk write, skipping the ids
        already there; (inserted, skipped)."""
        return await self.insert_many_new(
            [{"_id": product_id, **product_document(data, at)} for product_id, data in products]
        )

    async def apply(self, current: ProductInDB, changes: ProductUpdate, at: datetime) -> None:
        """Write `changes` to the product (its search tokens too, when its words change)."""
        fields = changes.model_dump(exclude_unset=True)
        if not fields:
            return
        if fields.keys() & {"name", "category", "tags"}:
            merged = current.model_copy(update=fields)
            fields["search_tokens"] = product_tokens(merged.name, merged.category, merged.tags)
        fields["updated_at"] = at
        # `reviews` by path: a new rating alone keeps the stored count (and the reverse).
        await self.update_by_id(current.id, {"$set": dotted(fields, {"reviews"})})

    async def insert_unordered(
        self, products: Sequence[ProductCreate], at: datetime
    ) -> tuple[int, list[tuple[int, str]]]:
        """Insert with one unordered bulk write; (inserted, [(index, reason)] of refusals)."""
        documents = [product_document(data, at) for data in products]
        try:
            result = await self.collection.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            return exc.details.get("nInserted", 0), _write_errors(exc)
        return len(result.inserted_ids), []

    async def upsert_unordered(
        self, products: Sequence[ProductCreate], field: str, at: datetime
    ) -> tuple[int, int, list[tuple[int, str]]]:
        """Update the product with the same `field` value, or insert it.

        Returns (inserted, updated, [(index, reason)] of refusals).
        """
        operations = []
        for document in (product_document(data, at) for data in products):
            fields = {key: value for key, value in document.items() if key != "created_at"}
            operations.append(
                UpdateOne(
                    {field: document[field]},
                    {"$set": fields, "$setOnInsert": {"created_at": document["created_at"]}},
                    upsert=True,
                )
            )
        try:
            result = await self.collection.bulk_write(operations, ordered=False)
        except BulkWriteError as exc:
            details = exc.details
            return details.get("nUpserted", 0), details.get("nModified", 0), _write_errors(exc)
        return result.upserted_count, result.modified_count, []

    async def bulk_set_prices(
        self, prices: Sequence[tuple[ObjectId, int, str]], at: datetime
    ) -> tuple[int, int, set[ObjectId]]:
        """One unordered bulk write of (id, amount, currency); (matched, modified, unknown ids)."""
        if not prices:
            return 0, 0, set()
        result = await self.collection.bulk_write(
            [
                UpdateOne(
                    {"_id": product_id},
                    {
                        "$set": {
                            "price": {"amount": amount, "currency": currency},
                            "updated_at": at,
                        }
                    },
                )
                for product_id, amount, currency in prices
            ],
            ordered=False,
        )
        wanted = {product_id for product_id, _, _ in prices}
        found = await self.collection.distinct("_id", {"_id": {"$in": list(wanted)}})
        return result.matched_count, result.modified_count, wanted - set(found)

    async def statistics(self) -> ProductStats:
        """The product dashboard in one round trip (one ``$facet``)."""
        pipeline: list[Document] = [
            {
                "$facet": {
                    "totals": [
                        {
                            "$group": {
                                "_id": None,
                                "count": {"$sum": 1},
                                "avg_price": {"$avg": "$price.amount"},
                                "total_inventory": {"$sum": "$inventory.quantity"},
                                "out_of_stock": {
                                    "$sum": {"$cond": [{"$lte": ["$inventory.quantity", 0]}, 1, 0]}
                                },
                            }
                        }
                    ],
                    "by_category": [
                        {
                            "$group": {
                                "_id": "$category",
                                "count": {"$sum": 1},
                                "avg_price": {"$avg": "$price.amount"},
                            }
                        },
                        {"$sort": {"count": -1, "_id": 1}},
                    ],
                    "price_distribution": [
                        {
                            "$bucket": {
                                "groupBy": "$price.amount",
                                "boundaries": PRICE_BOUNDARIES,
                                "default": "above",
                                "output": {"count": {"$sum": 1}},
                            }
                        }
                    ],
                    "top_rated": [
                        {"$sort": {"reviews.rating": -1, "reviews.count": -1, "_id": 1}},
                        {"$limit": 10},
                        {"$project": {"name": 1, "price": 1, "rating": "$reviews.rating"}},
                    ],
                }
            }
        ]
        cursor = await self.collection.aggregate(pipeline)
        facets: dict[str, Any] = (await cursor.to_list())[0]
        totals = facets["totals"][0] if facets["totals"] else {}
        counts = {row["_id"]: row["count"] for row in facets["price_distribution"]}
        edges = [*PRICE_BOUNDARIES[:-1]]
        buckets = [
            PriceBucket(min=low, max=high, count=counts.get(low, 0))
            for low, high in zip(edges, PRICE_BOUNDARIES[1:], strict=True)
        ]
        buckets.append(
            PriceBucket(min=PRICE_BOUNDARIES[-1], max=None, count=counts.get("above", 0))
        )
        return ProductStats(
            totals=ProductTotals(
                count=totals.get("count", 0),
                avg_price=round(totals.get("avg_price") or 0.0, 2),
                total_inventory=totals.get("total_inventory", 0),
                out_of_stock=totals.get("out_of_stock", 0),
            ),
            by_category=[
                CategoryStats(
                    category=row["_id"], count=row["count"], avg_price=round(row["avg_price"], 2)
                )
                for row in facets["by_category"]
            ],
            price_distribution=buckets,
            top_rated=[
                TopProduct(
                    id=str(row["_id"]), name=row["name"], price=row["price"], rating=row["rating"]
                )
                for row in facets["top_rated"]
            ],
        )
