"""The API's read caches, invalidated by one change stream.

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

from mongoshop.cache import Listings, ReadCache
from mongoshop.models.common import Document
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
