"""The catalog: create, read, update, search, stock that never goes negative, bulk prices."""

from __future__ import annotations

import asyncio

import pytest
from bson import ObjectId
from pydantic import ValidationError

from mongoshop._async.shop import AsyncShop
from mongoshop.errors import InvalidId, NotFound, OutOfStock, ValidationFailed
from mongoshop.models.common import PageRequest
from mongoshop.models.money import Money
from mongoshop.models.products import (
    InventoryChange,
    PriceUpdate,
    ProductCreate,
    ProductInDB,
    ProductQuery,
    ProductUpdate,
    SortField,
)
from tests.integration.helpers import Products, stock_of

# name, category, price, tags, rating: created in this order
CATALOG = [
    ("Élégant Café Mug", "kitchen", 1_200, ["ceramic", "gift"], 4.5),
    ("Steel Teapot", "kitchen", 3_500, ["steel"], 3.9),
    ("Chef Knife", "kitchen", 8_000, ["steel", "gift"], 4.8),
    ("Garden Hose", "garden", 2_500, ["outdoor"], 3.1),
    ("Solar Lantern", "garden", 4_000, ["outdoor", "eco", "gift"], 4.2),
    ("Travel Guide", "books", 1_500, ["paper"], 4.0),
    ("Café Cookbook", "books", 2_900, ["paper", "gift"], 4.6),
]


def other_currency(currency: str) -> str:
    return "USD" if currency != "USD" else "EUR"


@pytest.fixture
async def catalog(products: Products) -> list[ProductInDB]:
    return [
        await products.create(name=name, category=category, price=price, tags=tags, rating=rating)
        for name, category, price, tags, rating in CATALOG
    ]


async def names(ashop: AsyncShop, page_size: int = 100, **query: object) -> list[str]:
    page = await ashop.catalog.search(
        ProductQuery.model_validate(query), PageRequest(page=1, page_size=page_size)
    )
    return [product.name for product in page.items]


# --- create, get, update ------------------------------------------------------------------


async def test_create_and_get(ashop: AsyncShop) -> None:
    currency = ashop.settings.currency
    created = await ashop.catalog.create(
        ProductCreate(
            name="Zen Teapot",
            category="kitchen",
            price=Money(amount=2_450, currency=currency),
            tags=["ceramic"],
        )
    )

    found = await ashop.catalog.get(str(created.id))
    assert found == created
    assert found.price == Money(amount=2_450, currency=currency)
    assert found.inventory.quantity == 0
    assert found.created_at == found.updated_at
    stored = await ashop.repositories.products.collection.find_one({"_id": created.id})
    assert stored is not None
    assert {"zen", "teapot", "tea", "kitchen", "ceramic"} <= set(stored["search_tokens"])


async def test_a_price_in_another_currency_is_refused(ashop: AsyncShop) -> None:
    with pytest.raises(ValidationFailed):
        await ashop.catalog.create(
            ProductCreate(
                name="Foreign",
                category="books",
                price=Money(amount=100, currency=other_currency(ashop.settings.currency)),
            )
        )
    assert await ashop.repositories.products.count() == 0


async def test_unknown_and_malformed_ids(ashop: AsyncShop) -> None:
    with pytest.raises(NotFound):
        await ashop.catalog.get(str(ObjectId()))
    with pytest.raises(InvalidId):
        await ashop.catalog.get("12345")
    with pytest.raises(NotFound):
        await ashop.catalog.update(str(ObjectId()), ProductUpdate(name="x"))
    with pytest.raises(NotFound):
        await ashop.catalog.change_inventory(str(ObjectId()), 1)
    with pytest.raises(NotFound):
        await ashop.catalog.change_inventory(str(ObjectId()), -1)


async def test_an_update_that_changes_nothing_is_a_success(
    ashop: AsyncShop, catalog: list[ProductInDB]
) -> None:
    mug = catalog[0]

    same = await ashop.catalog.update(str(mug.id), ProductUpdate())

    assert same == mug
    assert await ashop.catalog.get(str(mug.id)) == mug


async def test_renaming_refreshes_the_search_tokens(
    ashop: AsyncShop, catalog: list[ProductInDB]
) -> None:
    teapot = catalog[1]
    assert await names(ashop, q="teapot") == ["Steel Teapot"]

    updated = await ashop.catalog.update(
        str(teapot.id), ProductUpdate(name="Iron Kettle", tags=["cast-iron"])
    )

    assert updated.name == "Iron Kettle"
    assert updated.updated_at > teapot.updated_at
    assert await names(ashop, q="teapot") == []
    assert await names(ashop, q="kettle") == ["Iron Kettle"]
    assert await names(ashop, q="cast iron") == ["Iron Kettle"]
    assert await names(ashop, q="steel") == ["Chef Knife"]  # its old tag is gone
    await ashop.catalog.update(str(teapot.id), ProductUpdate(category="garden"))
    moved = await ashop.repositories.products.collection.find_one({"_id": teapot.id})
    assert moved is not None
    assert "garden" in moved["search_tokens"]
    assert "kitchen" not in moved["search_tokens"]


async def test_a_price_update_must_keep_the_currency(
    ashop: AsyncShop, catalog: list[ProductInDB]
) -> None:
    mug = catalog[0]
    foreign = Money(amount=1, currency=other_currency(ashop.settings.currency))

    with pytest.raises(ValidationFailed):
        await ashop.catalog.update(str(mug.id), ProductUpdate(price=foreign))

    assert await ashop.catalog.get(str(mug.id)) == mug


# --- search -------------------------------------------------------------------------------


async def test_search_by_category(ashop: AsyncShop, catalog: list[ProductInDB]) -> None:
    assert sorted(await names(ashop, category="kitchen")) == [
        "Chef Knife",
        "Steel Teapot",
        "Élégant Café Mug",
    ]
    assert await names(ashop, category="nothing") == []


async def test_search_by_price_range_inclusive(
    ashop: AsyncShop, catalog: list[ProductInDB]
) -> None:
    page = await ashop.catalog.search(
        ProductQuery(min_price=1_500, max_price=3_500, sort=SortField.PRICE, order="asc"),
        PageRequest(),
    )
    assert [p.price.amount for p in page.items] == [1_500, 2_500, 2_900, 3_500]
    assert await names(ashop, min_price=4_001) == ["Chef Knife"]
    assert sorted(await names(ashop, max_price=1_500)) == ["Travel Guide", "Élégant Café Mug"]
    assert await names(ashop, category="garden", min_price=3_000) == ["Solar Lantern"]


async def test_search_by_tags_needs_all_of_them(
    ashop: AsyncShop, catalog: list[ProductInDB]
) -> None:
    assert await names(ashop, tags=["gift", "steel"]) == ["Chef Knife"]
    assert len(await names(ashop, tags=["gift"])) == 4
    assert await names(ashop, tags=["gift", "gift", "eco"]) == ["Solar Lantern"]
    assert await names(ashop, tags=["gift", "missing"]) == []


async def test_free_text_is_accent_and_case_insensitive(
    ashop: AsyncShop, catalog: list[ProductInDB]
) -> None:
    assert sorted(await names(ashop, q="cafe")) == ["Café Cookbook", "Élégant Café Mug"]
    assert sorted(await names(ashop, q="CAFÉ")) == ["Café Cookbook", "Élégant Café Mug"]
    assert await names(ashop, q="elegant café") == ["Élégant Café Mug"]
    assert await names(ashop, q="ELEG mu") == ["Élégant Café Mug"]  # prefixes
    assert await names(ashop, q="cafe", category="books") == ["Café Cookbook"]
    assert len(await names(ashop, q="kitchen")) == 3  # the category is searchable


@pytest.mark.parametrize("text", [".*", "^", "(a+)+$", '{"$gt": ""}', "$where", "a"])
async def test_free_text_is_never_a_pattern_or_an_operator(
    ashop: AsyncShop, catalog: list[ProductInDB], text: str
) -> None:
    assert await names(ashop, q=text) == []


@pytest.mark.parametrize("field", list(SortField))
@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_sort_by_each_field_both_ways(
    ashop: AsyncShop, catalog: list[ProductInDB], field: SortField, order: str
) -> None:
    key = {
        SortField.CREATED_AT: lambda p: (p.created_at, p.id),
        SortField.PRICE: lambda p: (p.price.amount, p.id),
        SortField.NAME: lambda p: (p.name, p.id),
        SortField.RATING: lambda p: (p.reviews.rating, p.id),
    }[field]
    expected = [p.name for p in sorted(catalog, key=key, reverse=order == "desc")]

    assert await names(ashop, sort=field, order=order) == expected


async def test_the_newest_come_first_by_default(
    ashop: AsyncShop, catalog: list[ProductInDB]
) -> None:
    assert await names(ashop) == [name for name, *_ in reversed(CATALOG)]


async def test_pagination_totals(ashop: AsyncShop, catalog: list[ProductInDB]) -> None:
    query = ProductQuery(sort=SortField.PRICE, order="asc")
    pages = [
        await ashop.catalog.search(query, PageRequest(page=n, page_size=3)) for n in (1, 2, 3, 4)
    ]

    assert [len(page.items) for page in pages] == [3, 3, 1, 0]
    assert {(page.total, page.total_pages, page.page_size) for page in pages} == {(7, 3, 3)}
    assert [page.page for page in pages] == [1, 2, 3, 4]
    seen = [p.price.amount for page in pages for p in page.items]
    assert seen == sorted(price for _, _, price, _, _ in CATALOG)

    filtered = await ashop.catalog.search(
        ProductQuery(tags=["gift"]), PageRequest(page=2, page_size=3)
    )
    assert (filtered.total, filtered.total_pages, len(filtered.items)) == (4, 2, 1)


@pytest.mark.parametrize(
    "query",
    [
        {"min_price": -1},
        {"min_price": 1.5},
        {"sort": "price.amount"},
        {"sort": "$natural"},
        {"order": "sideways"},
        {"category": {"$ne": None}},
        {"q": "x" * 201},
    ],
)
def test_bad_queries_are_refused_before_any_query(query: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ProductQuery.model_validate(query)


@pytest.mark.parametrize("paging", [{"page": 0}, {"page_size": 0}, {"page_size": 101}])
def test_bad_pages_are_refused(paging: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        PageRequest.model_validate(paging)


# --- stock --------------------------------------------------------------------------------


async def test_stock_is_added_and_taken_but_never_below_zero(
    ashop: AsyncShop, products: Products
) -> None:
    product = await products.create(quantity=10)

    assert (await ashop.catalog.change_inventory(str(product.id), 5)).inventory.quantity == 15
    assert (await ashop.catalog.change_inventory(str(product.id), -4)).inventory.quantity == 11
    with pytest.raises(OutOfStock) as refused:
        await ashop.catalog.change_inventory(str(product.id), -12)
    assert refused.value.code == "out_of_stock"
    assert await stock_of(ashop, product.id) == 11
    assert (await ashop.catalog.change_inventory(str(product.id), -11)).inventory.quantity == 0
    with pytest.raises(OutOfStock):
        await ashop.catalog.change_inventory(str(product.id), -1)
    assert await stock_of(ashop, product.id) == 0
    with pytest.raises(ValidationError):
        InventoryChange(change=0)


async def test_concurrent_subtracts_cannot_oversell(ashop: AsyncShop, products: Products) -> None:
    product = await products.create(quantity=5)

    results = await asyncio.gather(
        *(ashop.catalog.change_inventory(str(product.id), -1) for _ in range(20)),
        return_exceptions=True,
    )

    taken = [r for r in results if isinstance(r, ProductInDB)]
    refused = [r for r in results if isinstance(r, OutOfStock)]
    assert (len(taken), len(refused)) == (5, 15)
    # Each answer is the product read after its own write (outside a transaction, others
    # may have taken more since): never more than was left after it.
    assert all(0 <= r.inventory.quantity <= 4 for r in taken)
    assert await stock_of(ashop, product.id) == 0


# --- bulk prices --------------------------------------------------------------------------


async def test_bulk_prices_report_bad_items_and_apply_the_rest(
    ashop: AsyncShop, catalog: list[ProductInDB]
) -> None:
    currency = ashop.settings.currency
    mug, teapot, knife = catalog[:3]
    unknown = ObjectId()
    updates = [
        PriceUpdate(product_id=str(mug.id), new_price=Money(amount=1_111, currency=currency)),
        PriceUpdate(product_id="not-an-id", new_price=Money(amount=1, currency=currency)),
        PriceUpdate(product_id=str(unknown), new_price=Money(amount=2, currency=currency)),
        PriceUpdate(product_id=str(teapot.id), new_price=Money(amount=3_333, currency=currency)),
    ]

    result = await ashop.catalog.bulk_update_prices(updates)

    assert (result.matched, result.modified) == (2, 2)
    assert [(e.index, e.product_id) for e in result.errors] == [
        (1, "not-an-id"),
        (2, str(unknown)),
    ]
    assert "not found" in result.errors[1].error
    assert (await ashop.catalog.get(str(mug.id))).price.amount == 1_111
    assert (await ashop.catalog.get(str(teapot.id))).price.amount == 3_333
    assert (await ashop.catalog.get(str(knife.id))).price == knife.price
    assert await ashop.repositories.products.count({"_id": unknown}) == 0  # no upsert


async def test_bulk_prices_in_another_currency_refuse_the_whole_request(
    ashop: AsyncShop, catalog: list[ProductInDB]
) -> None:
    """One rule for every amount: another currency is invalid input, not a bad item."""
    currency = ashop.settings.currency
    mug, knife = catalog[0], catalog[2]
    updates = [
        PriceUpdate(product_id=str(mug.id), new_price=Money(amount=1_111, currency=currency)),
        PriceUpdate(
            product_id=str(knife.id), new_price=Money(amount=5, currency=other_currency(currency))
        ),
    ]

    with pytest.raises(ValidationFailed, match=r"body\.1\.new_price\.currency"):
        await ashop.catalog.bulk_update_prices(updates)

    assert await ashop.catalog.get(str(mug.id)) == mug
    assert await ashop.catalog.get(str(knife.id)) == knife


async def test_bulk_prices_with_nothing_valid(ashop: AsyncShop, catalog: list[ProductInDB]) -> None:
    currency = ashop.settings.currency
    result = await ashop.catalog.bulk_update_prices(
        [PriceUpdate(product_id="x", new_price=Money(amount=1, currency=currency))]
    )
    assert (result.matched, result.modified, len(result.errors)) == (0, 0, 1)
    assert await ashop.catalog.bulk_update_prices([]) == result.model_copy(update={"errors": []})


async def test_bulk_prices_naming_a_product_twice_are_refused_whole(
    ashop: AsyncShop, products: Products
) -> None:
    lamp = await products.create(price=1_000)
    other = await products.create(price=2_000)
    currency = ashop.settings.currency

    with pytest.raises(ValidationFailed) as refused:
        await ashop.catalog.bulk_update_prices(
            [
                PriceUpdate(product_id=str(lamp.id), new_price=Money(amount=1, currency=currency)),
                PriceUpdate(product_id=str(other.id), new_price=Money(amount=3, currency=currency)),
                PriceUpdate(
                    product_id=str(lamp.id).upper(), new_price=Money(amount=2, currency=currency)
                ),
            ]
        )

    assert str(lamp.id) in refused.value.detail
    assert str(other.id) not in refused.value.detail
    assert (await ashop.catalog.get(str(lamp.id))).price.amount == 1_000
    assert (await ashop.catalog.get(str(other.id))).price.amount == 2_000


async def test_a_partial_reviews_update_keeps_the_other_review_field(
    ashop: AsyncShop, products: Products
) -> None:
    product = await products.create()
    await ashop.catalog.update(
        str(product.id), ProductUpdate.model_validate({"reviews": {"rating": 4.0, "count": 12}})
    )

    updated = await ashop.catalog.update(
        str(product.id), ProductUpdate.model_validate({"reviews": {"rating": 4.6}})
    )

    assert (updated.reviews.rating, updated.reviews.count) == (4.6, 12)
