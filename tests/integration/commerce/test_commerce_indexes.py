"""Every commerce query path has an index: explain() shows an index scan, never a COLLSCAN.

The queries explained are the repositories' own (their filter and sort builders, the
analytics pipeline's first stage). The data is large and varied enough that a query
planner trying several plans finds the intended index clearly best, as on a real shop.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from mongoshop._async.repositories.base import Sort
from mongoshop._async.repositories.idempotent import IDEMPOTENCY_INDEX
from mongoshop._async.repositories.products import AsyncProductRepository
from mongoshop._async.repositories.wallet import NEWEST_FIRST
from mongoshop._async.services.catalog import new_product_document
from mongoshop._async.shop import AsyncShop
from mongoshop.models.common import Document
from mongoshop.models.money import Money
from mongoshop.models.orders import OrderStatus, SalesPeriod
from mongoshop.models.products import ProductCreate, ProductQuery, SortField
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings
from tests.plans import assert_index_scan, winning_stages

BASE = datetime(2025, 1, 1, tzinfo=UTC)
CATEGORIES = [f"aisle{n}" for n in range(8)]
USERS = 12


@dataclass
class Data:
    user_ids: list[ObjectId]
    account_ids: list[ObjectId]
    period: SalesPeriod


@pytest.fixture(scope="module")
async def indexed(
    async_client: AsyncMongoClient[Document], base_settings: Settings, hasher: PasswordHasher
) -> AsyncIterator[tuple[AsyncShop, Data]]:
    """One database for the whole module: filling and dropping it is the slow part."""
    name = f"test_commerce_indexes_{uuid.uuid4().hex[:12]}"
    settings = base_settings.model_copy(update={"mongodb_database": name})
    shop = AsyncShop(async_client[name], settings, hasher=hasher)
    await shop.ensure_indexes()
    try:
        yield shop, await populate(shop)
    finally:
        await async_client.drop_database(name)


@pytest.fixture
def ashop(indexed: tuple[AsyncShop, Data]) -> AsyncShop:
    return indexed[0]


@pytest.fixture
def data(indexed: tuple[AsyncShop, Data]) -> Data:
    return indexed[1]


async def populate(ashop: AsyncShop) -> Data:
    currency = ashop.settings.currency
    products = []
    for n in range(240):
        tags = ["common", *(["rare", "gift"] if n % 97 == 0 else []), f"t{n % 20}"]
        document = new_product_document(
            ProductCreate(
                name=f"Item {n} {'Teapot' if n % 50 == 0 else 'Widget'}",
                category=CATEGORIES[n % len(CATEGORIES)],
                price=Money(amount=(n * 37) % 20_000, currency=currency),
                tags=tags,
            ),
            BASE + timedelta(minutes=n),
        )
        document["reviews"]["rating"] = (n % 50) / 10
        products.append(document)
    await ashop.product_repository.collection.insert_many(products)

    user_ids = [ObjectId() for _ in range(USERS)]
    account_ids = [ObjectId() for _ in range(USERS)]
    await ashop.account_repository.collection.insert_many(
        [
            {
                "_id": account_id,
                "user_id": user_id,
                "balance": 0,
                "currency": currency,
                "created_at": BASE,
                "updated_at": BASE,
            }
            for user_id, account_id in zip(user_ids, account_ids, strict=True)
        ]
    )
    await ashop.ledger_repository.collection.insert_many(
        [
            {
                "account_id": account_ids[n % USERS],
                "kind": "credit",
                "amount": 1,
                "currency": currency,
                "reference_id": None,
                "reason": "x",
                "created_at": BASE + timedelta(minutes=n),
            }
            for n in range(240)
        ]
    )
    orders = []
    transfers = []
    for n in range(240):
        user = n % USERS
        order: Document = {
            "user_id": user_ids[user],
            "account_id": account_ids[user],
            "items": [],
            "total": {"amount": 100, "currency": currency},
            # Mostly cancelled: the completed ones of a period are a small part of it.
            "status": (OrderStatus.COMPLETED if n % 6 == 0 else OrderStatus.CANCELLED).value,
            "request_hash": "h",
            "created_at": BASE + timedelta(hours=n),
            "cancelled_at": None,
        }
        if n % 2 == 0:
            order["idempotency_key"] = f"key-{n}"
        orders.append(order)
        transfers.append(
            {
                "user_id": user_ids[user],
                "from_account_id": account_ids[user],
                "to_account_id": account_ids[(user + 1) % USERS],
                "amount": 1,
                "currency": currency,
                "idempotency_key": f"key-{n}",
                "request_hash": "h",
                "created_at": BASE + timedelta(hours=n),
            }
        )
    await ashop.order_repository.collection.insert_many(orders)
    await ashop.transfer_repository.collection.insert_many(transfers)
    period = SalesPeriod(start=BASE + timedelta(days=3), end=BASE + timedelta(days=9))
    return Data(user_ids, account_ids, period)


async def explain_find(
    shop: AsyncShop,
    collection: str,
    filter: Document,
    sort: Sort | None = None,
    limit: int = 20,
) -> Document:
    """The plan of a find shaped as the repositories send it (filter, sort, skip, limit)."""
    cursor = shop.database[collection].find(filter)
    if sort:
        cursor = cursor.sort(list(sort))
    explained: Document = await cursor.skip(0).limit(limit).explain()
    return explained


async def explain_first_stage(
    shop: AsyncShop, collection: str, pipeline: list[Document]
) -> Document:
    """The plan of an aggregation's leading `$match`, as the server runs it."""
    explained: Document = await shop.database.command(
        "explain", {"aggregate": collection, "pipeline": pipeline[:1], "cursor": {}}
    )
    return explained


Explainer = Callable[[AsyncShop, Data], Awaitable[Document]]


def search(query: ProductQuery) -> Explainer:
    """The plan of the catalog search's pipeline up to its page (its `$match`es and `$sort`)."""

    async def run(shop: AsyncShop, _: Data) -> Document:
        filters = AsyncProductRepository.filters_for(query)
        assert filters is not None
        pipeline: list[Document] = [{"$match": f} for f in filters if f] or [{"$match": {}}]
        pipeline.append({"$sort": dict(AsyncProductRepository.sort_for(query))})
        explained: Document = await shop.database.command(
            "explain", {"aggregate": "products", "pipeline": pipeline, "cursor": {}}
        )
        return explained

    return run


SORT_INDEXES = {
    SortField.CREATED_AT: "created_at_id",
    SortField.PRICE: "price_id",
    SortField.NAME: "name_id",
    SortField.RATING: "rating_id",
}

CASES: dict[str, tuple[Explainer, str]] = {
    "products by category and price range": (
        search(ProductQuery(category="aisle3", min_price=1_000, max_price=3_000)),
        "category_price",
    ),
    "products by category and price range, sorted by price": (
        search(ProductQuery(category="aisle3", min_price=1_000, sort=SortField.PRICE, order="asc")),
        "category_price",
    ),
    "products with all of some tags": (search(ProductQuery(tags=["rare", "gift"])), "tags"),
    "products by free text": (search(ProductQuery(q="teapot")), "search_tokens"),
    **{
        f"all products sorted by {field.value} {order}": (
            search(ProductQuery(sort=field, order=order)),
            index,
        )
        for field, index in SORT_INDEXES.items()
        for order in ("asc", "desc")
    },
}


@pytest.mark.parametrize("case", CASES.keys())
async def test_product_queries_use_their_index(
    ashop: AsyncShop, data: Data, case: str, server_is_secantus: bool
) -> None:
    explain, index = CASES[case]
    explained = await explain(ashop, data)
    if server_is_secantus and case.startswith("all products"):
        # No sort push-down there: the whole catalog is read and sorted, which is why
        # the API caches this listing's pages by query (mongoshop.cache.Listings).
        assert "COLLSCAN" in [stage["stage"] for stage in winning_stages(explained)]
        pytest.xfail("the embedded server sorts a whole-collection listing in memory")
    assert_index_scan(explained, index)


async def test_an_unfiltered_sort_needs_no_in_memory_sort(
    ashop: AsyncShop, data: Data, server_is_secantus: bool
) -> None:
    if server_is_secantus:
        plan = await search(ProductQuery())(ashop, data)
        assert "COLLSCAN" in [s.get("stage") for s in winning_stages(plan)]
        pytest.xfail("the embedded server sorts a whole-collection listing in memory")
    for field in SortField:
        for order in ("asc", "desc"):
            plan = await search(ProductQuery(sort=field, order=order))(ashop, data)
            assert "SORT" not in [s.get("stage") for s in winning_stages(plan)], (field, order)


async def test_ledger_history_uses_the_account_index(ashop: AsyncShop, data: Data) -> None:
    account_id = data.account_ids[3]
    assert_index_scan(
        await explain_find(ashop, "ledger", {"account_id": account_id}, NEWEST_FIRST),
        "account_newest",
    )
    assert_index_scan(
        await explain_first_stage(ashop, "ledger", [{"$match": {"account_id": account_id}}]),
        "account_newest",
    )


async def test_a_buyers_orders_use_the_user_index(ashop: AsyncShop, data: Data) -> None:
    assert_index_scan(
        await explain_find(ashop, "orders", {"user_id": data.user_ids[5]}, NEWEST_FIRST),
        "user_newest",
    )
    assert_index_scan(await explain_find(ashop, "orders", {}, NEWEST_FIRST), "newest")


async def test_the_sales_analytics_match_uses_the_status_index(
    ashop: AsyncShop, data: Data
) -> None:
    pipeline = ashop.order_repository.sales_pipeline(data.period)
    assert "$match" in pipeline[0]

    assert_index_scan(await explain_first_stage(ashop, "orders", pipeline), "status_created")
    assert_index_scan(
        await explain_find(ashop, "orders", pipeline[0]["$match"], limit=0), "status_created"
    )


async def test_an_account_is_found_by_its_user_with_the_unique_index(
    ashop: AsyncShop, data: Data
) -> None:
    assert_index_scan(
        await explain_find(ashop, "accounts", {"user_id": data.user_ids[0]}, limit=1),
        "user_id_unique",
    )


@pytest.mark.parametrize("collection", ["transfers", "orders"])
async def test_idempotency_keys_are_found_with_their_index(
    ashop: AsyncShop, data: Data, collection: str, server_is_secantus: bool
) -> None:
    filter = {"user_id": data.user_ids[2], "idempotency_key": "key-2"}
    explained = await explain_find(ashop, collection, filter, limit=1)
    if server_is_secantus:
        # Explained as a scan there, yet the lookup runs in the same time at 200 and at
        # 20,000 documents (test_growth_guard.py); the hint that makes explain show the
        # partial index makes the lookup walk the collection.
        assert "COLLSCAN" in [s.get("stage") for s in winning_stages(explained)]
        pytest.xfail("explain() on the embedded server does not describe this lookup")
    assert_index_scan(explained, IDEMPOTENCY_INDEX, "user_newest")


async def test_every_declared_commerce_index_exists(ashop: AsyncShop) -> None:
    for repository in (
        ashop.product_repository,
        ashop.account_repository,
        ashop.ledger_repository,
        ashop.transfer_repository,
        ashop.order_repository,
    ):
        information = await repository.collection.index_information()
        for index in repository.indexes:
            name = index.document["name"]
            assert name in information, (repository.collection_name, name)
            assert information[name]["key"] == list(index.document["key"].items())
