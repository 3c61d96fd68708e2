"""The API's read caches, built together (`ApiCaches`) and invalidated by one change stream.

The API caches user profiles and product pages by id, and the pages of the
broad listings (the catalog, the admin's user list) by query. One change
stream on the database, filtered by the server to the collections and kinds
of change that matter (`Invalidation`), evicts an entry as soon as a change
commits, whichever process made it: typically within a second. One stream,
not one per collection: the embedded server reads every entry of its oplog
for each open stream, so each stream costs it every write of the shop, the
queues' included. The TTL (MONGOSHOP_CACHE_TTL_SECONDS, default 30 s) bounds
staleness even while the stream is interrupted, and the caches are cleared
whenever it restarts, since changes made meanwhile were not seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from mongoshop._async.repositories.orders import AsyncOrderRepository
from mongoshop._async.repositories.products import AsyncProductRepository
from mongoshop._async.repositories.users import AsyncUserRepository
from mongoshop._async.shop import AsyncShop
from mongoshop.cache import Listings, ReadCache, ShopCaches
from mongoshop.models.common import Document
from mongoshop.models.products import ProductInDB
from mongoshop.models.tokens import TokenInDB
from mongoshop.models.users import UserInDB
from mongoshop.settings import Settings
from mongoshop.worker.streams import StreamSpec

EVERY_CHANGE = ("insert", "update", "replace", "delete")
CACHE_STREAM = "cache"
"""The stream's name (in logs, and in `mongoshop_stream_lag_seconds`)."""


@dataclass(frozen=True)
class Invalidation:
    """What a change to `collection` drops: its document's entry in `cache`, and the
    pages of `listings` it could move; only changes of `operations` are looked at."""

    collection: str
    cache: ReadCache[Any] | None
    listings: Listings | None = None
    operations: tuple[str, ...] = EVERY_CHANGE


def invalidation_spec(
    name: str, database: AsyncDatabase[Document], invalidations: Sequence[Invalidation]
) -> StreamSpec:
    """A non-checkpointed stream on `database` that evicts, for each change to one of the
    `invalidations`' collections, the changed document's id (and the listings' pages,
    when the change could move it in one)."""
    by_collection = {invalidation.collection: invalidation for invalidation in invalidations}

    async def evict(change: Mapping[str, Any]) -> None:
        invalidation = by_collection.get((change.get("ns") or {}).get("coll", ""))
        if invalidation is None:
            return
        if invalidation.cache is not None:
            invalidation.cache.invalidate(change.get("documentKey", {}).get("_id"))
        if invalidation.listings is not None and invalidation.listings.affected_by(change):
            invalidation.listings.clear()

    def clear() -> None:
        for invalidation in invalidations:
            if invalidation.cache is not None:
                invalidation.cache.clear()
            if invalidation.listings is not None:
                invalidation.listings.clear()

    match: Document = {
        "$or": [
            {
                "ns.coll": invalidation.collection,
                "operationType": {"$in": list(invalidation.operations)},
            }
            for invalidation in invalidations
        ]
    }
    return StreamSpec(
        name=name,
        collection=database,
        operations=tuple(sorted({op for i in invalidations for op in i.operations})),
        handler=evict,
        checkpointed=False,
        on_restart=clear,
        match=match,
    )


@dataclass(frozen=True)
class ApiCaches:
    """Every cache of one API process: by id (users, products, tokens), and by page (the
    broad listings, the outbox's size). Built once from the settings, handed to the
    shop, and kept current by one stream (`invalidation`)."""

    users: ReadCache[UserInDB]
    products: ReadCache[ProductInDB]
    tokens: ReadCache[TokenInDB]
    user_listings: Listings
    product_listings: Listings
    order_listings: Listings
    outbox_totals: Listings
    """The outbox's size: only an insert or a delete moves it (no field does)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiCaches:
        ttl = settings.cache_ttl_seconds
        listing_ttl = settings.listing_ttl_seconds if ttl > 0 else 0

        def listings(fields: frozenset[str]) -> Listings:
            return Listings(listing_ttl, fields, patience=settings.listing_patience_seconds)

        return cls(
            users=ReadCache(ttl),
            products=ReadCache(ttl),
            tokens=ReadCache(ttl),
            user_listings=listings(AsyncUserRepository.listing_fields),
            product_listings=listings(AsyncProductRepository.listing_fields),
            order_listings=listings(AsyncOrderRepository.listing_fields),
            outbox_totals=listings(frozenset()),
        )

    def for_shop(self) -> ShopCaches:
        """The same caches, as the shop takes them."""
        return ShopCaches(
            users=self.users,
            products=self.products,
            tokens=self.tokens,
            user_listings=self.user_listings,
            product_listings=self.product_listings,
            order_listings=self.order_listings,
            outbox_totals=self.outbox_totals,
        )

    def invalidation(self, shop: AsyncShop) -> StreamSpec:
        """The one stream that keeps them all current."""
        repositories = shop.repositories
        return invalidation_spec(
            CACHE_STREAM,
            shop.database,
            [
                Invalidation(repositories.users.collection_name, self.users, self.user_listings),
                Invalidation(
                    repositories.products.collection_name, self.products, self.product_listings
                ),
                Invalidation(repositories.tokens.collection_name, self.tokens),
                Invalidation(repositories.orders.collection_name, None, self.order_listings),
                # Its size only: not the status changes.
                Invalidation(
                    repositories.outbox.collection_name,
                    None,
                    self.outbox_totals,
                    operations=("insert", "replace", "delete"),
                ),
            ],
        )
