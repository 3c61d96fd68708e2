"""Dashboards on known data: the product dashboard and the sales report, exact to the cent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mongoshop._async.repositories.products import PRICE_BOUNDARIES
from mongoshop._async.shop import AsyncShop
from mongoshop.models.orders import (
    CategorySales,
    OrderInDB,
    OrderItemRequest,
    OrderRequest,
    SalesPeriod,
    SalesSummary,
)
from mongoshop.models.products import (
    CategoryStats,
    PriceBucket,
    ProductInDB,
    ProductTotals,
)
from tests.integration.helpers import Customer, Customers, Products

# name, category, price, quantity, rating, review count
DASHBOARD = [
    ("A", "books", 0, 0, 1.0, 5),
    ("B", "books", 999, 3, 4.9, 10),
    ("C", "books", 1_000, 0, 4.9, 20),
    ("D", "books", 4_999, 7, 2.0, 1),
    ("E", "toys", 2_500, 1, 3.0, 1),
    ("F", "toys", 5_000, 2, 3.5, 1),
    ("G", "toys", 9_999, 4, 4.0, 1),
    ("H", "toys", 10_000, 0, 4.1, 1),
    ("I", "garden", 49_999, 5, 4.2, 1),
    ("J", "garden", 50_000, 6, 4.3, 1),
    ("K", "electronics", 100_000, 8, 4.4, 1),
    ("L", "electronics", 250_000, 9, 4.5, 1),
]


async def test_the_product_dashboard_on_known_data(ashop: AsyncShop, products: Products) -> None:
    assert PRICE_BOUNDARIES == [0, 1_000, 5_000, 10_000, 50_000, 100_000]
    created = {}
    for name, category, price, quantity, rating, count in DASHBOARD:
        created[name] = await products.create(
            name=name,
            category=category,
            price=price,
            quantity=quantity,
            rating=rating,
            reviews=count,
        )

    stats = await ashop.analytics.product_dashboard()

    assert stats.totals == ProductTotals(
        count=12, avg_price=round(484_496 / 12, 2), total_inventory=45, out_of_stock=3
    )
    assert stats.by_category == [
        CategoryStats(category="books", count=4, avg_price=1_749.5),
        CategoryStats(category="toys", count=4, avg_price=6_874.75),
        CategoryStats(category="electronics", count=2, avg_price=175_000.0),
        CategoryStats(category="garden", count=2, avg_price=49_999.5),
    ]
    assert stats.price_distribution == [
        PriceBucket(min=0, max=1_000, count=2),  # A at 0, B at 999
        PriceBucket(min=1_000, max=5_000, count=3),  # C at exactly 1000, D, E
        PriceBucket(min=5_000, max=10_000, count=2),
        PriceBucket(min=10_000, max=50_000, count=2),
        PriceBucket(min=50_000, max=100_000, count=1),
        PriceBucket(min=100_000, max=None, count=2),  # the last edge and above
    ]
    # Best rating first; equal ratings by review count; at most ten.
    assert [p.name for p in stats.top_rated] == ["C", "B", "L", "K", "J", "I", "H", "G", "F", "E"]
    top = stats.top_rated[0]
    assert (top.id, top.rating, top.price) == (str(created["C"].id), 4.9, created["C"].price)


async def test_the_product_dashboard_of_an_empty_catalog(ashop: AsyncShop) -> None:
    stats = await ashop.analytics.product_dashboard()

    assert stats.totals == ProductTotals(count=0, avg_price=0, total_inventory=0, out_of_stock=0)
    assert stats.by_category == []
    assert [bucket.count for bucket in stats.price_distribution] == [0] * len(PRICE_BOUNDARIES)
    assert stats.top_rated == []


START = datetime(2025, 3, 1, tzinfo=UTC)
END = datetime(2025, 4, 1, tzinfo=UTC)


def lines(*items: tuple[ProductInDB, int]) -> OrderRequest:
    return OrderRequest(
        items=[OrderItemRequest(product_id=str(p.id), quantity=q) for p, q in items]
    )


@pytest.fixture
async def sales(ashop: AsyncShop, customers: Customers, products: Products) -> dict[str, object]:
    """Orders inside and outside March 2025, and a cancelled one inside."""
    first, second = await customers.create(2, balance=100_000)
    novel = await products.create(category="books", price=1_000, quantity=50, name="Novel")
    atlas = await products.create(category="books", price=2_500, quantity=50, name="Atlas")
    kite = await products.create(category="toys", price=700, quantity=50, name="Kite")
    hose = await products.create(category="garden", price=3_333, quantity=50, name="Hose")

    async def place(buyer: Customer, request: OrderRequest, at: datetime) -> OrderInDB:
        order, _ = await ashop.orders.place(buyer.user, request, placed_at=at)
        return order

    inside = [
        await place(first, lines((novel, 2), (kite, 1)), START + timedelta(days=1)),  # 2700
        await place(second, lines((atlas, 1)), START + timedelta(days=14)),  # 2500
        await place(first, lines((novel, 1), (hose, 3)), END - timedelta(milliseconds=1)),
        await place(second, lines((kite, 2)), START),  # 1400; the start is included
    ]
    cancelled = await place(first, lines((kite, 5)), START + timedelta(days=9))
    # Long past the buyer's cancellation window: the shop cancels it.
    (admin,) = await customers.create(1, admin=True)
    await ashop.orders.cancel(admin.user, str(cancelled.id))
    await place(first, lines((novel, 1)), START - timedelta(seconds=1))  # before
    await place(second, lines((atlas, 2)), END)  # the end is excluded
    # Orders keep the price they were placed at.
    await ashop.repositories.products.update_by_id(novel.id, {"$set": {"price.amount": 99_999}})
    return {"inside": inside, "hose": hose}


async def test_the_sales_report_of_a_period(ashop: AsyncShop, sales: dict[str, object]) -> None:
    report = await ashop.analytics.sales(SalesPeriod(start=START, end=END))

    assert report.period == SalesPeriod(start=START, end=END)
    assert report.by_category == [
        CategorySales(
            category="garden",
            total_sales=9_999,
            total_items=3,
            unique_products_count=1,
            orders_count=1,
            avg_order_value=10_999,
        ),
        CategorySales(
            category="books",
            total_sales=5_500,
            total_items=4,
            unique_products_count=2,
            orders_count=3,
            avg_order_value=5_400,  # (2700 + 2500 + 10999) / 3 = 5399.67
        ),
        CategorySales(
            category="toys",
            total_sales=2_100,
            total_items=3,
            unique_products_count=1,
            orders_count=2,
            avg_order_value=2_050,
        ),
    ]
    assert report.summary == SalesSummary(
        total_sales=17_599,
        total_items=10,
        orders_count=4,
        categories_count=3,
        currency=ashop.settings.currency,
    )
    for row in report.by_category:
        assert type(row.total_sales) is int
        assert type(row.avg_order_value) is int


async def test_sales_of_deleted_products_are_still_counted(
    ashop: AsyncShop, sales: dict[str, object]
) -> None:
    hose = sales["hose"]
    assert isinstance(hose, ProductInDB)
    await ashop.repositories.products.delete_by_id(hose.id)

    report = await ashop.analytics.sales(SalesPeriod(start=START, end=END))

    assert [row.category for row in report.by_category] == [
        "(deleted products)",
        "books",
        "toys",
    ]
    assert report.summary.total_sales == 17_599


async def test_a_period_without_sales(ashop: AsyncShop, sales: dict[str, object]) -> None:
    report = await ashop.analytics.sales(
        SalesPeriod(start=END + timedelta(days=1), end=END + timedelta(days=2))
    )

    assert report.by_category == []
    assert report.summary == SalesSummary(
        total_sales=0,
        total_items=0,
        orders_count=0,
        categories_count=0,
        currency=ashop.settings.currency,
    )
