"""The services' read cache serves cached profiles and product pages until evicted, and a
change-stream consumer evicts them when another process changes the document."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import AsyncMongoClient

from mongoshop._async.repositories.products import AsyncProductRepository
from mongoshop._async.shop import AsyncShop
from mongoshop.api.caches import Invalidation, invalidation_spec
from mongoshop.cache import Listings, ReadCache, ShopCaches
from mongoshop.models.common import Document, PageRequest
from mongoshop.models.money import Money
from mongoshop.models.products import ProductCreate, ProductInDB, ProductQuery, SortField
from mongoshop.models.users import UserCreate, UserInDB
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings
from mongoshop.worker.streams import StreamConsumer


async def test_cached_reads_are_served_until_a_change_stream_evicts_them(
    async_client: AsyncMongoClient[Document], settings: Settings, hasher: PasswordHasher
) -> None:
    users: ReadCache[UserInDB] = ReadCache(ttl=300)
    products: ReadCache[ProductInDB] = ReadCache(ttl=300)
    database = async_client[settings.mongodb_database]
    shop = AsyncShop(
        database, settings, hasher=hasher, caches=ShopCaches(users=users, products=products)
    )
    await shop.ensure_indexes()
    try:
        user = await shop.users.register(
            UserCreate(name="Ada", email="ada.cache@example.com", password="password1")
        )
        product = await shop.catalog.create(
            ProductCreate(name="Lamp", category="home", price=Money(amount=100, currency="EUR"))
        )
        assert (await shop.users.get_visible_to(user, str(user.id))).name == "Ada"
        assert (await shop.catalog.get(str(product.id))).name == "Lamp"

        # Another process changes both documents: with no stream running, the cache answers.
        await database.users.update_one({"_id": user.id}, {"$set": {"name": "Ada L."}})
        await database.products.update_one({"_id": product.id}, {"$set": {"name": "Lamp 2"}})
        assert (await shop.users.get_visible_to(user, str(user.id))).name == "Ada"
        assert (await shop.catalog.get(str(product.id))).name == "Lamp"

        consumers = [
            StreamConsumer(
                invalidation_spec(
                    "cache",
                    shop.database,
                    [Invalidation("users", users), Invalidation("products", products)],
                ),
                shop.repositories.checkpoints,
            ),
        ]
        tasks = [asyncio.create_task(consumer.run()) for consumer in consumers]
        try:
            await asyncio.wait_for(
                asyncio.gather(*(consumer.ready.wait() for consumer in consumers)), 10
            )
            # A (re)started stream clears its cache: changes made meanwhile were not seen.
            assert len(users) == 0
            assert len(products) == 0
            assert (await shop.users.get_visible_to(user, str(user.id))).name == "Ada L."
            assert (await shop.catalog.get(str(product.id))).name == "Lamp 2"

            await database.users.update_one({"_id": user.id}, {"$set": {"name": "Ada K."}})
            for _ in range(100):
                if (await shop.users.get_visible_to(user, str(user.id))).name == "Ada K.":
                    break
                await asyncio.sleep(0.05)
            assert (await shop.users.get_visible_to(user, str(user.id))).name == "Ada K."
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await async_client.drop_database(settings.mongodb_database)


async def test_a_services_own_change_evicts_its_cache_at_once(ashop: AsyncShop) -> None:
    cache: ReadCache[UserInDB] = ReadCache(ttl=300)
    ashop.users.cache = cache
    user = await ashop.users.register(
        UserCreate(name="Bob", email="bob.cache@example.com", password="password1")
    )
    await ashop.users.get_visible_to(user, str(user.id))
    from mongoshop.models.users import UserUpdate

    await ashop.users.update(user, str(user.id), UserUpdate(name="Bobby"))
    assert (await ashop.users.get_visible_to(user, str(user.id))).name == "Bobby"


async def _wait_until(condition: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never held")


async def test_listing_pages_are_cached_by_query_with_fresh_documents_and_dropped_by_changes(
    async_client: AsyncMongoClient[Document], settings: Settings, hasher: PasswordHasher
) -> None:
    listings = Listings(ttl=300, fields=AsyncProductRepository.listing_fields)
    database = async_client[settings.mongodb_database]
    shop = AsyncShop(
        database, settings, hasher=hasher, caches=ShopCaches(product_listings=listings)
    )
    await shop.ensure_indexes()
    query = ProductQuery(category="kitchen", sort=SortField.PRICE, order="asc")

    async def names() -> list[str]:
        return [p.name for p in (await shop.catalog.search(query, PageRequest())).items]

    try:
        for name, price in (("Bowl", 300), ("Cup", 100), ("Pan", 200)):
            await shop.catalog.create(
                ProductCreate(
                    name=name, category="kitchen", price=Money(amount=price, currency="EUR")
                )
            )
        assert await names() == ["Cup", "Pan", "Bowl"]
        cup = (await shop.catalog.search(query, PageRequest())).items[0]

        # Another process changes the stock and a price: the cached page keeps its ids and
        # order (no stream runs yet), but every document on it is read fresh.
        await database.products.update_one(
            {"_id": cup.id}, {"$set": {"inventory.quantity": 42, "price.amount": 900}}
        )
        page = await shop.catalog.search(query, PageRequest())
        assert [p.name for p in page.items] == ["Cup", "Pan", "Bowl"]
        assert (page.items[0].inventory.quantity, page.items[0].price.amount) == (42, 900)

        # A change made through the service drops the pages at once in this process.
        await shop.catalog.create(
            ProductCreate(name="Jug", category="kitchen", price=Money(amount=50, currency="EUR"))
        )
        assert await names() == ["Jug", "Pan", "Bowl", "Cup"]

        consumer = StreamConsumer(
            invalidation_spec(
                "cache", shop.database, [Invalidation("products", ReadCache(300), listings)]
            ),
            shop.repositories.checkpoints,
        )
        task = asyncio.create_task(consumer.run())
        try:
            await asyncio.wait_for(consumer.ready.wait(), 10)
            assert await names() == ["Jug", "Pan", "Bowl", "Cup"]
            # A stock change elsewhere moves no page: the cached ids stay.
            await database.products.update_one({"name": "Pan"}, {"$set": {"inventory.quantity": 7}})
            await database.products.update_one({"name": "Bowl"}, {"$set": {"price.amount": 10}})
            # A price change elsewhere does: the stream drops the pages within moments.
            await _wait_until(lambda: _eq(names(), ["Bowl", "Jug", "Pan", "Cup"]))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await async_client.drop_database(settings.mongodb_database)


async def _eq(value: Any, expected: Any) -> bool:
    return bool(await value == expected)
