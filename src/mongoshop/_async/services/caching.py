"""Read-through caching, written once: documents by id, listing pages by query.

`read_through` serves a document from a `ReadCache` or loads and remembers it;
`cached_page` and `cached_total` do the same for a listing's ids and total (the
documents of a page are always read fresh). With no cache (the CLI, tests of the
repositories) each simply loads.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

from mongoshop._async.compat import Loader
from mongoshop._async.repositories.base import AsyncRepository
from mongoshop.cache import Listings, ReadCache
from mongoshop.models.common import StoredModel

ItemT = TypeVar("ItemT", bound=StoredModel)
V = TypeVar("V")


async def read_through(cache: ReadCache[V] | None, key: Hashable, load: Loader[V]) -> V:
    """The value cached under `key`, or `load`'s (then cached); `load` raises if none."""
    if cache is None:
        return await load()
    hit = cache.get(key)
    if hit is None:
        hit = await load()
        cache.put(key, hit)
    return hit


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
