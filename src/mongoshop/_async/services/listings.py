"""Read-through caching of listing pages: the ids and total by query, the documents fresh."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

from mongoshop._async.compat import Loader
from mongoshop._async.repositories.base import AsyncRepository
from mongoshop.cache import Listings
from mongoshop.models.common import StoredModel

ItemT = TypeVar("ItemT", bound=StoredModel)


async def cached_page(
    listings: Listings | None,
    key: Hashable,
    repository: AsyncRepository[ItemT],
    load: Loader[tuple[list[ItemT], int]],
) -> tuple[list[ItemT], int]:
    """The page `load` answers, from `listings` when it holds this `key`.

    A hit costs one read of the page's documents by ``_id``, whatever the
    collection holds; a miss runs `load` and remembers the ids and total.
    Without `listings` (the CLI, the tests of the repositories), `load` runs.
    """
    if listings is None:
        return await load()
    hit = listings.get(key)
    if hit is not None:
        ids, total = hit
        return await repository.find_in_order(ids), total
    items, total = await load()
    listings.put(key, [item.id for item in items], total)
    return items, total


async def cached_total(listings: Listings | None, key: Hashable, count: Loader[int]) -> int:
    """A listing's total, from `listings` when it holds this `key`, else `count`ed.

    For totals that every page of a listing shares: paging through it then
    counts once, not once per page.
    """
    if listings is None:
        return await count()
    hit = listings.get(key)
    if hit is not None:
        return hit[1]
    total = await count()
    listings.put(key, [], total)
    return total
