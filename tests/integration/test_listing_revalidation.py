"""A broad listing that takes longer to compute than a request may wait is served as it
was last computed while it is computed again (stale-while-revalidate).

The slow computation is the repository's search made slow on purpose (as a
100,000-product category is on the embedded server); everything else is real:
the catalog service, its listing cache, the background recomputation, the
documents read fresh by `_id`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from mongoshop._async.shop import AsyncShop
from mongoshop._async.warming import warm_listings
from mongoshop.cache import Listings, ShopCaches, noting_ages
from mongoshop.deadlines import deadline
from mongoshop.errors import ValidationFailed
from mongoshop.models.common import Document, PageRequest
from mongoshop.models.money import Money
from mongoshop.models.products import ProductCreate, ProductQuery
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings

SLOW = 2.0
"""Longer than a request waits for a page (the listings' `patience`)."""
QUERY = ProductQuery(category="kitchen")


@pytest.fixture
async def cshop(
    async_client: AsyncMongoClient[Document], settings: Settings, hasher: PasswordHasher
) -> AsyncIterator[AsyncShop]:
    listings = Listings(ttl=300, fields=frozenset({"category", "created_at", "name"}))
    shop = AsyncShop(
        async_client[settings.mongodb_database],
        settings,
        hasher=hasher,
        caches=ShopCaches(product_listings=listings),
    )
    await shop.ensure_indexes()
    yield shop
    await shop.background.close()
    await async_client.drop_database(settings.mongodb_database)


async def add(shop: AsyncShop, name: str, price: int = 100) -> None:
    await shop.catalog.create(
        ProductCreate(name=name, category="kitchen", price=Money(amount=price, currency="EUR"))
    )


def slowed(shop: AsyncShop, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the catalog's search take `SLOW` seconds; the list counts the searches."""
    search = shop.repositories.products.search
    calls: list[int] = []

    async def slow(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        await asyncio.sleep(SLOW)
        return await search(*args, **kwargs)

    monkeypatch.setattr(shop.repositories.products, "search", slow)
    return calls


async def names(shop: AsyncShop) -> tuple[list[str], list[float], float]:
    """The page's names, the ages noted for it, and how long the request took."""
    started = time.monotonic()
    with noting_ages() as ages, deadline(5.0):
        page = await shop.catalog.search(QUERY, PageRequest())
    return [product.name for product in page.items], ages, time.monotonic() - started


async def test_a_slow_listing_dropped_by_a_change_is_served_as_last_computed_then_fresh(
    cshop: AsyncShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add(cshop, "Cup")
    assert (await names(cshop))[0] == ["Cup"]
    await add(cshop, "Pan")  # drops the cached pages
    calls = slowed(cshop, monkeypatch)

    served, ages, took = await names(cshop)
    assert served == ["Cup"], "the last page is served while the new one is computed"
    assert len(ages) == 1
    assert took < SLOW, "the request did not wait for the slow computation"

    assert await cshop.background.wait(next(iter(cshop.background._running)), 10)
    served, ages, _ = await names(cshop)
    assert served == ["Pan", "Cup"]
    assert ages == []
    assert calls == [1], "one computation served both requests"


async def test_a_listing_computed_within_the_patience_is_served_fresh(
    cshop: AsyncShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add(cshop, "Cup")
    await names(cshop)
    await add(cshop, "Pan")
    monkeypatch.setattr(cshop.catalog.listings, "patience", SLOW * 2)
    slowed(cshop, monkeypatch)

    served, ages, _ = await names(cshop)

    assert served == ["Pan", "Cup"]
    assert ages == []


async def test_the_documents_of_a_last_page_are_read_fresh(
    cshop: AsyncShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add(cshop, "Cup", price=100)
    (cup,) = (await cshop.catalog.search(QUERY, PageRequest())).items
    await add(cshop, "Pan")
    await cshop.repositories.products.collection.update_one(
        {"_id": cup.id}, {"$set": {"price.amount": 250, "inventory.quantity": 7}}
    )
    slowed(cshop, monkeypatch)

    with noting_ages() as ages, deadline(5.0):
        page = await cshop.catalog.search(QUERY, PageRequest())

    assert ages, "the last page was served"
    assert [(p.name, p.price.amount, p.inventory.quantity) for p in page.items] == [("Cup", 250, 7)]


async def test_with_the_background_busy_the_last_page_is_served_without_a_new_computation(
    cshop: AsyncShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add(cshop, "Cup")
    await names(cshop)
    await add(cshop, "Pan")
    calls = slowed(cshop, monkeypatch)
    monkeypatch.setattr(cshop.background, "limit", 0)

    served, ages, took = await names(cshop)

    assert served == ["Cup"]
    assert len(ages) == 1
    assert calls == []
    assert took < SLOW


async def test_the_warmer_computes_each_categorys_first_page_before_anyone_asks(
    cshop: AsyncShop,
) -> None:
    await add(cshop, "Cup")
    await cshop.catalog.create(
        ProductCreate(name="Rake", category="garden", price=Money(amount=900, currency="EUR"))
    )

    visited = await warm_listings(cshop)

    assert visited == 4  # the catalog, kitchen, garden, the users (no admin yet: no orders)
    listings = cshop.catalog.listings
    assert listings is not None
    for category in (None, "kitchen", "garden"):
        key = (ProductQuery(category=category).model_dump_json(), 0, PageRequest().page_size)
        assert listings.get(key) is not None, category


async def test_a_page_waits_for_the_background_to_have_room_within_its_patience(
    cshop: AsyncShop,
) -> None:
    await add(cshop, "Cup")
    await names(cshop)
    await add(cshop, "Pan")

    async def other_work() -> None:  # a dashboard's recomputation, say: one at a time
        await asyncio.sleep(0.3)

    assert cshop.background.start("other", other_work)
    served, ages, _ = await names(cshop)

    assert served == ["Pan", "Cup"], "computed once the other work was done, within patience"
    assert ages == []


async def test_a_listing_the_query_refuses_gives_its_refusal_not_busy(
    cshop: AsyncShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(*args: Any, **kwargs: Any) -> Any:
        raise ValidationFailed("no such page")

    monkeypatch.setattr(cshop.repositories.products, "search", refused)

    with pytest.raises(ValidationFailed), deadline(5.0):
        await cshop.catalog.search(QUERY, PageRequest())
