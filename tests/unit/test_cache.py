"""The read cache (TTL + LRU) and the listing cache."""

from __future__ import annotations

from bson import ObjectId

from mongoshop.cache import Listings, ReadCache, note_age, noting_ages


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_read_cache_expires_after_its_ttl() -> None:
    clock = FakeClock()
    cache: ReadCache[str] = ReadCache(ttl=30, clock=clock)
    key = ObjectId()
    cache.put(key, "v1")
    clock.now = 29.9
    assert cache.get(key) == "v1"
    clock.now = 30.0
    assert cache.get(key) is None


def test_read_cache_evicts_on_invalidation_and_the_least_recently_used_when_full() -> None:
    cache: ReadCache[int] = ReadCache(ttl=60, max_entries=2)
    a, b, c = ObjectId(), ObjectId(), ObjectId()
    cache.put(a, 1)
    cache.put(b, 2)
    assert cache.get(a) == 1  # a is now the most recently used
    cache.put(c, 3)
    assert cache.get(b) is None
    assert cache.get(a) == 1
    cache.invalidate(a)
    assert cache.get(a) is None
    cache.clear()
    assert len(cache) == 0


def test_a_zero_ttl_disables_the_cache() -> None:
    cache: ReadCache[int] = ReadCache(ttl=0)
    key = ObjectId()
    cache.put(key, 1)
    assert cache.get(key) is None


PRODUCT_LISTING_FIELDS = frozenset({"category", "price", "tags", "search_tokens"})


def update_event(*fields: str, removed: tuple[str, ...] = ()) -> dict[str, object]:
    return {
        "operationType": "update",
        "documentKey": {"_id": ObjectId()},
        "updateDescription": {
            "updatedFields": {field: 1 for field in fields},
            "removedFields": list(removed),
        },
    }


def test_listing_pages_are_dropped_by_changes_to_what_listings_filter_or_sort_on() -> None:
    listings = Listings(ttl=60, fields=PRODUCT_LISTING_FIELDS)

    assert listings.affected_by(update_event("price.amount", "updated_at"))
    assert listings.affected_by(update_event("updated_at", removed=("tags",)))
    assert listings.affected_by({"operationType": "insert", "documentKey": {"_id": 1}})
    assert listings.affected_by({"operationType": "delete", "documentKey": {"_id": 1}})
    assert listings.affected_by({"operationType": "replace", "documentKey": {"_id": 1}})
    # A stock level or a timestamp moves no document in, out of or within a page.
    assert not listings.affected_by(update_event("inventory.quantity", "updated_at"))
    truncated = update_event("updated_at")
    truncated["updateDescription"]["truncatedArrays"] = [{"field": "tags", "newSize": 1}]  # type: ignore[index]
    assert listings.affected_by(truncated)


def test_listing_pages_expire_and_clear() -> None:
    clock = FakeClock()
    listings = Listings(ttl=30, fields=PRODUCT_LISTING_FIELDS, clock=clock)
    ids = [ObjectId(), ObjectId()]
    listings.put(("kitchen", 0, 20), ids, 2)
    assert listings.get(("kitchen", 0, 20)) == (ids, 2)
    assert listings.get(("garden", 0, 20)) is None
    clock.now = 30.0
    assert listings.get(("kitchen", 0, 20)) is None
    listings.put(("kitchen", 0, 20), ids, 2)
    listings.clear()
    assert len(listings) == 0


def test_a_dropped_page_is_remembered_as_the_last_one_with_its_age() -> None:
    clock = FakeClock()
    listings = Listings(ttl=30, fields=PRODUCT_LISTING_FIELDS, clock=clock)
    ids = [ObjectId()]
    listings.put(("kitchen", 0, 20), ids, 1)
    clock.now = 12.0
    listings.clear()

    assert listings.get(("kitchen", 0, 20)) is None
    assert listings.last(("kitchen", 0, 20)) == (12.0, (ids, 1))
    assert listings.last(("garden", 0, 20)) is None


def test_a_page_computed_across_a_clear_is_only_the_last_one_not_the_current() -> None:
    listings = Listings(ttl=30, fields=PRODUCT_LISTING_FIELDS)
    ids = [ObjectId()]
    started = listings.generation
    listings.clear()  # a change while the page was being computed
    listings.put(("kitchen", 0, 20), ids, 1, started)

    assert listings.get(("kitchen", 0, 20)) is None
    assert listings.last(("kitchen", 0, 20)) is not None
    listings.put(("kitchen", 0, 20), ids, 1, listings.generation)
    assert listings.get(("kitchen", 0, 20)) == (ids, 1)


def test_with_caching_off_no_last_page_is_kept_either() -> None:
    listings = Listings(ttl=0, fields=PRODUCT_LISTING_FIELDS)
    listings.put(("kitchen", 0, 20), [ObjectId()], 1)
    assert listings.last(("kitchen", 0, 20)) is None


def test_the_ages_of_last_pages_served_are_noted_only_where_asked() -> None:
    note_age(5.0)  # nobody is noting: nothing happens
    with noting_ages() as ages:
        note_age(3.0)
        note_age(7.5)
    assert ages == [3.0, 7.5]
