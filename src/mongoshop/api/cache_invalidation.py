"""The API's read caches, invalidated by change streams.

The API caches user profiles and product pages by id, and the pages of the
broad listings (the catalog, the admin's user list) by query. A change stream on
each collection evicts an entry as soon as a change commits, whichever
process made it: typically within a second. The TTL
(MONGOSHOP_CACHE_TTL_SECONDS, default 30 s) bounds staleness even while a
stream is interrupted, and a cache is cleared whenever its stream restarts,
since changes made meanwhile were not seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from mongoshop.cache import Listings, ReadCache
from mongoshop.models.common import Document
from mongoshop.streams.consumer import StreamSpec


def invalidation_spec(
    name: str,
    collection: AsyncCollection[Document],
    cache: ReadCache[Any] | None,
    listings: Listings | None = None,
    operations: tuple[str, ...] = ("insert", "update", "replace", "delete"),
) -> StreamSpec:
    """A non-checkpointed stream that evicts the changed document's id (and the listings'
    pages, when the change could move it in one)."""

    async def evict(change: Mapping[str, Any]) -> None:
        if cache is not None:
            cache.invalidate(change.get("documentKey", {}).get("_id"))
        if listings is not None and listings.affected_by(change):
            listings.clear()

    def clear() -> None:
        if cache is not None:
            cache.clear()
        if listings is not None:
            listings.clear()

    return StreamSpec(
        name=name,
        collection=collection,
        operations=operations,
        handler=evict,
        checkpointed=False,
        on_restart=clear,
    )
