"""The API's read caches, invalidated by change streams.

The API caches user profiles and product pages by id. A change stream on
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

from mongoshop.cache import ReadCache
from mongoshop.events.streams import StreamSpec
from mongoshop.models.common import Document


def invalidation_spec(
    name: str, collection: AsyncCollection[Document], cache: ReadCache[Any]
) -> StreamSpec:
    """A non-checkpointed stream that evicts the changed document's id."""

    async def evict(change: Mapping[str, Any]) -> None:
        cache.invalidate(change.get("documentKey", {}).get("_id"))

    return StreamSpec(
        name=name,
        collection=collection,
        operations=("insert", "update", "replace", "delete"),
        handler=evict,
        checkpointed=False,
        on_restart=cache.clear,
    )
