"""Read-through caching, written once: documents by id, listing pages by query.

`read_through` serves a document from a `ReadCache` or loads and remembers it;
`cached_page` and `cached_total` do the same for a listing's ids and total (the
documents of a page are always read fresh). With no cache (the CLI, tests of the
repositories) each simply loads.

A listing page not cached as current (never computed, or dropped by a change)
is computed in the background, once at a time per page, under its own bound
(`REFRESH_TIMEOUT_SECONDS`), not the request's. A request waits for it only
its listings' `patience` (`MONGOSHOP_LISTING_PATIENCE_SECONDS`; less when its
deadline is nearer) when the page was computed
before: past that it is served as last computed, its age noted for the ``Age``
header (stale-while-revalidate, RFC 5861). A page never computed is waited for
up to the request's deadline; past it the request is `Busy` (503, Retry-After)
and the computation goes on for the next one. So a listing that takes longer
than a request's deadline is still computed, and never answers 503 again once
it has been; the API computes the common ones before anyone asks
(`mongoshop._async.warming`).
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import TypeVar

import pymongo

from mongoshop import deadlines
from mongoshop._async.compat import Background, Loader
from mongoshop._async.repositories.base import AsyncRepository
from mongoshop.cache import Listing, Listings, ReadCache, note_age
from mongoshop.errors import Busy, MongoshopError
from mongoshop.models.common import StoredModel

ItemT = TypeVar("ItemT", bound=StoredModel)
V = TypeVar("V")

ANSWER_RESERVE_SECONDS = 0.5
"""What the wait leaves of the request's deadline: the page's documents are still to read."""
REFRESH_TIMEOUT_SECONDS = 120.0
"""A background computation's own bound (no request's deadline applies to it)."""


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
    background: Background | None = None,
) -> tuple[list[ItemT], int]:
    """The page `load` answers, from `listings` when it holds this `key`.

    A hit costs one read of the page's documents by ``_id``, whatever the
    collection holds; a miss runs `load` and remembers the ids and total, in
    the background when the page was computed before (see the module).
    Without `listings` (the CLI, the tests of the repositories), `load` runs.
    """
    if listings is None:
        return await load()
    hit = listings.get(key)
    if hit is None and background is not None:

        async def ids() -> Listing:
            items, total = await load()
            return [item.id for item in items], total

        hit = await _revalidated(listings, key, ids, background)
    if hit is not None:
        ids_, total = hit
        return await repository.find_in_order(ids_), total
    generation = listings.generation
    items, total = await load()
    listings.put(key, [item.id for item in items], total, generation)
    return items, total


async def cached_total(
    listings: Listings | None,
    key: Hashable,
    count: Loader[int],
    background: Background | None = None,
) -> int:
    """A listing's total, from `listings` when it holds this `key`, else `count`ed.

    For totals that every page of a listing shares: paging through it then
    counts once, not once per page. Recounted like a page (see the module).
    """
    if listings is None:
        return await count()
    hit = listings.get(key)
    if hit is None and background is not None:

        async def counted() -> Listing:
            return [], await count()

        hit = await _revalidated(listings, key, counted, background)
    if hit is not None:
        return hit[1]
    generation = listings.generation
    total = await count()
    listings.put(key, [], total, generation)
    return total


async def _revalidated(
    listings: Listings, key: Hashable, load: Loader[Listing], background: Background
) -> Listing | None:
    """The page computed now, in the background, if it is ready within the request's
    patience; else the last one (its age noted). A page never computed is waited for
    until the request's deadline, and is `Busy` past it (its computation goes on, for the
    next request). None when there is no last page and the background is busy, or its
    computation failed: the caller computes it itself (and so gets its error)."""

    async def refresh() -> None:
        generation = listings.generation
        try:
            with pymongo.timeout(REFRESH_TIMEOUT_SECONDS):
                ids, total = await load()
        except MongoshopError:
            return  # the request's answer (a 404, a 422), not a failure: it says it itself
        listings.put(key, ids, total, generation)

    name = f"listing {id(listings)} {key!r}"
    last = listings.last(key)
    left = deadlines.remaining()
    patience = None if left is None else max(0.0, left - ANSWER_RESERVE_SECONDS)
    if last is not None:
        patience = listings.patience if patience is None else min(listings.patience, patience)
    ends = None if patience is None else time.monotonic() + patience
    started = background.start(name, refresh)
    if not started and last is not None and await background.room(patience):
        started = background.start(name, refresh)  # another's work was done in time
    if started:
        finished = await background.wait(name, None if ends is None else ends - time.monotonic())
        if finished:
            current = listings.get(key)
            if current is not None:
                return current
        last = listings.last(key)  # computed meanwhile, across a change
        if last is None:
            if finished:  # it failed (a bad `after`, say): the caller's own try says why
                return None
            raise Busy(
                "this listing is being computed (it reads every match); try again in a few seconds"
            )
    if last is None:
        return None
    age, listing = last
    note_age(age)
    return listing
