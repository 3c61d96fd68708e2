"""A small in-process read cache (TTL + LRU), shared by both faces; no I/O.

The API keeps one per collection and evicts entries from change streams
(`mongoshop.api.caches`); services also evict what they change themselves.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ReadCache(Generic[T]):
    """A TTL + LRU map from ids (ObjectIds, token digests) to models."""

    def __init__(
        self, ttl: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()

    def get(self, key: Hashable) -> T | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        stored_at, value = entry
        if self._clock() - stored_at >= self.ttl:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: Hashable, value: T) -> None:
        if self.ttl <= 0:
            return
        self._entries[key] = (self._clock(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, key: Any) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


Listing = tuple[list[Any], int]
"""A cached page of a listing: the ids of its documents, in order, and the total."""


LAST_PAGES_SECONDS = 3600.0
"""How long a listing's last computed page may be served while it is recomputed."""


class Listings:
    """Pages of a listing by query (ids and total), dropped by any change that could move them.

    A broad listing (a category sorted by price, every user newest first) costs
    the number of documents its filter matches on any server that cannot bound
    the query by its page, and its count always does. Caching its ids and total
    makes the next request for the same page cost the page: the documents are
    then read fresh by ``_id``, so a page never shows a stale price or stock.

    Any change to a field in `fields` (what the listings filter or sort on), any
    insert, delete or replace, may move documents in or out of a page or reorder
    them: then every page is dropped (`affected_by`, from a change stream, or
    `clear` by the service that made the change). Other changes (a stock level,
    a login count) leave the pages as they are.

    A dropped page is still remembered as the listing's *last* page (`last`, up
    to `LAST_PAGES_SECONDS`): served, with its age, while the page is computed
    again, when that takes longer than a request may wait
    (`mongoshop._async.services.caching`). A page computed before a change that
    dropped the pages is not cached as current (`generation`).
    """

    def __init__(
        self,
        ttl: float,
        fields: frozenset[str],
        max_entries: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        *,
        patience: float = 1.0,
    ) -> None:
        """`patience`: how long a request waits for a page being computed again before it
        is served the last one."""
        self.fields = fields
        self.patience = patience
        self._clock = clock
        self._pages: ReadCache[Listing] = ReadCache(ttl, max_entries, clock)
        self._last: ReadCache[tuple[float, Listing]] = ReadCache(
            LAST_PAGES_SECONDS if ttl > 0 else 0, max_entries, clock
        )
        self.generation = 0
        """Counts the clears: a page computed across one is already out of date."""

    def get(self, key: Hashable) -> Listing | None:
        return self._pages.get(key)

    def last(self, key: Hashable) -> tuple[float, Listing] | None:
        """The last page computed for `key`, current or not, and its age in seconds."""
        found = self._last.get(key)
        if found is None:
            return None
        computed_at, listing = found
        return self._clock() - computed_at, listing

    def put(self, key: Hashable, ids: list[Any], total: int, generation: int | None = None) -> None:
        """Remember a page; as current only if no clear came since `generation` (when
        the computation started), else only as the last one."""
        self._last.put(key, (self._clock(), (ids, total)))
        if generation is None or generation == self.generation:
            self._pages.put(key, (ids, total))

    def clear(self) -> None:
        self.generation += 1
        self._pages.clear()

    def affected_by(self, change: Mapping[str, Any]) -> bool:
        """Could this change-stream event move a document in, out or within a listing?"""
        if change.get("operationType") != "update":
            return True
        description = change.get("updateDescription") or {}
        changed = [
            *(description.get("updatedFields") or {}),
            *(description.get("removedFields") or []),
            *(entry.get("field", "") for entry in description.get("truncatedArrays") or []),
        ]
        return any(path.split(".", 1)[0] in self.fields for path in changed)

    def __len__(self) -> int:
        return len(self._pages)


_SERVED_AGES: ContextVar[list[float] | None] = ContextVar("mongoshop_served_ages", default=None)


@contextmanager
def noting_ages() -> Iterator[list[float]]:
    """Collect the ages of the last pages served within (the API answers the oldest as
    the ``Age`` header: the client sees that the listing may be out of date)."""
    ages: list[float] = []
    token = _SERVED_AGES.set(ages)
    try:
        yield ages
    finally:
        _SERVED_AGES.reset(token)


def note_age(seconds: float) -> None:
    """A page `seconds` old was served in place of a current one."""
    ages = _SERVED_AGES.get()
    if ages is not None:
        ages.append(seconds)


@dataclass(frozen=True)
class ShopCaches:
    """A shop's caches, each optional: only a process whose change streams evict changed
    entries may keep them (the API, `mongoshop.api.caches.ApiCaches`); scripts, the CLI
    and the worker read the database each time (the default: none)."""

    users: ReadCache[Any] | None = None
    products: ReadCache[Any] | None = None
    tokens: ReadCache[Any] | None = None
    user_listings: Listings | None = None
    product_listings: Listings | None = None
    order_listings: Listings | None = None
    outbox_totals: Listings | None = None
    """The outbox's size: only an insert or a delete moves it (no field does)."""
