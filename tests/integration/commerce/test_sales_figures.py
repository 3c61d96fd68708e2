"""The sales report adds up days kept as figures (`mongoshop.models.sales`).

A full UTC day of a report is read from its figures in `figures`; the parts of
days at a report's edges, from the orders. A settled day's figures stay until
one of its orders changes (a cancellation, a backdated order), which marks the
day stale in its own transaction; a day not yet over is refreshed like the
other dashboards. Each test proves the figures are what is read by changing the
orders behind their back, or by moving the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from mongoshop._async.services.analytics import SALES_DAYS
from mongoshop._async.shop import AsyncShop
from mongoshop.models.orders import OrderItemRequest, OrderRequest, SalesPeriod, SalesReport
from mongoshop.models.products import ProductInDB
from mongoshop.models.sales import MAX_DAYS, figures_name
from tests.integration.commerce.conftest import REFRESH
from tests.integration.helpers import Customer, Customers, MovingClock, Products

DAY = timedelta(days=1)


@pytest.fixture
def midnight(clock: MovingClock) -> datetime:
    """The start of the clock's UTC day."""
    return clock.now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
async def buyer(dshop: AsyncShop) -> Customer:
    return await Customers(dshop).one(balance=1_000_000)


@pytest.fixture
async def book(dshop: AsyncShop) -> ProductInDB:
    return await Products(dshop).create(category="books", price=1_000, quantity=500)


@pytest.fixture
async def kite(dshop: AsyncShop) -> ProductInDB:
    return await Products(dshop).create(category="toys", price=700, quantity=500)


async def place(
    shop: AsyncShop, buyer: Customer, product: ProductInDB, quantity: int, at: datetime | None
) -> ObjectId:
    request = OrderRequest(items=[OrderItemRequest(product_id=str(product.id), quantity=quantity)])
    order, _ = await shop.orders.place(buyer.user, request, placed_at=at)
    return order.id


def figures_of(report: SalesReport) -> object:
    """The report without when it was computed: what a fresh one must equal."""
    return report.model_dump(exclude={"computed_at"})


async def settled(shop: AsyncShop) -> None:
    assert await shop.background.wait(SALES_DAYS, 10), "the days were not recomputed"


async def test_full_days_come_from_their_figures_and_the_edges_from_the_orders(
    dshop: AsyncShop, buyer: Customer, book: ProductInDB, kite: ProductInDB, midnight: datetime
) -> None:
    first = midnight - 5 * DAY
    await place(dshop, buyer, book, 1, first + timedelta(hours=10))  # before the start
    await place(dshop, buyer, kite, 2, first + timedelta(hours=15))  # in the head
    await place(dshop, buyer, book, 3, first + DAY + timedelta(hours=12))
    await place(dshop, buyer, kite, 1, first + 2 * DAY + timedelta(hours=23))
    await place(dshop, buyer, book, 2, first + 3 * DAY + timedelta(hours=1))  # in the tail
    await place(dshop, buyer, book, 7, first + 3 * DAY + timedelta(hours=3))  # after the end
    period = SalesPeriod(
        start=first + timedelta(hours=11), end=first + 3 * DAY + timedelta(hours=2)
    )

    report = await dshop.analytics.sales(period)

    assert report.summary.orders_count == 4
    assert report.summary.total_sales == 1_400 + 3_000 + 700 + 2_000
    assert figures_of(report) == figures_of(await dshop.analytics.sales(period, fresh=True))
    kept = await dshop.repositories.figures.load_many(
        [figures_name((first + n * DAY).date()) for n in range(4)]
    )
    # The two full days are kept; the partial days at the edges are not.
    assert sorted(kept) == [figures_name((first + n * DAY).date()) for n in (1, 2)]

    # An order written behind the service's back, into a kept (settled) day: the
    # report reads the day's figures, not its orders; a fresh one sees it.
    raw = await dshop.repositories.orders.collection.find_one({"item_count": 3})
    assert raw is not None
    await dshop.repositories.orders.collection.insert_one(
        {**raw, "_id": ObjectId(), "idempotency_key": None}
    )
    assert figures_of(await dshop.analytics.sales(period)) == figures_of(report)
    fresh = await dshop.analytics.sales(period, fresh=True)
    assert fresh.summary.total_sales == report.summary.total_sales + 3_000


async def test_a_cancellation_in_a_settled_day_is_counted_after_one_stale_report(
    dshop: AsyncShop, buyer: Customer, book: ProductInDB, midnight: datetime, clock: MovingClock
) -> None:
    day = midnight - 3 * DAY
    kept = await place(dshop, buyer, book, 1, day + timedelta(hours=9))
    cancelled = await place(dshop, buyer, book, 4, day + timedelta(hours=10))
    period = SalesPeriod(start=day, end=day + DAY)
    before = await dshop.analytics.sales(period)
    assert before.summary.total_sales == 5_000
    computed = before.computed_at
    (admin,) = await Customers(dshop).create(1, admin=True)

    clock.advance(1)
    await dshop.orders.cancel(admin.user, str(cancelled))

    stored = await dshop.repositories.figures.load(figures_name(day.date()))
    assert stored is not None
    assert stored.is_stale
    # Served as kept while the day is recomputed in the background, then counted.
    assert figures_of(await dshop.analytics.sales(period)) == figures_of(before)
    await settled(dshop)
    after = await dshop.analytics.sales(period)
    assert after.summary.total_sales == 1_000
    assert after.summary.orders_count == 1
    assert after.computed_at is not None
    assert computed is not None
    assert after.computed_at > computed
    assert kept != cancelled


async def test_an_order_backdated_into_a_settled_day_marks_it(
    dshop: AsyncShop, buyer: Customer, book: ProductInDB, midnight: datetime
) -> None:
    day = midnight - 2 * DAY
    period = SalesPeriod(start=day, end=day + DAY)
    assert (await dshop.analytics.sales(period)).summary.orders_count == 0

    await place(dshop, buyer, book, 2, day + timedelta(hours=8))

    await dshop.analytics.sales(period)  # the kept (empty) day, and its recomputation
    await settled(dshop)
    assert (await dshop.analytics.sales(period)).summary.total_sales == 2_000


async def test_today_is_refreshed_once_older_than_the_refresh_period(
    dshop: AsyncShop, buyer: Customer, book: ProductInDB, midnight: datetime, clock: MovingClock
) -> None:
    period = SalesPeriod(start=midnight, end=midnight + DAY)
    await place(dshop, buyer, book, 1, None)
    assert (await dshop.analytics.sales(period)).summary.orders_count == 1

    await place(dshop, buyer, book, 1, None)  # today: no mark, no write to the figures
    clock.advance(REFRESH / 2)
    assert (await dshop.analytics.sales(period)).summary.orders_count == 1

    clock.advance(REFRESH)
    assert (await dshop.analytics.sales(period)).summary.orders_count == 1  # due: served
    await settled(dshop)
    assert (await dshop.analytics.sales(period)).summary.orders_count == 2


async def test_a_mark_during_a_computation_leaves_the_day_stale(dshop: AsyncShop) -> None:
    figures = dshop.repositories.figures
    started = datetime(2026, 3, 1, 12, tzinfo=UTC)
    await figures.mark_stale("sales:2026-02-01", started + timedelta(seconds=1))
    assert await figures.load("sales:2026-02-01") is None  # marked only: never computed

    # A computation that began before the mark, saved after it: still stale.
    await figures.save_many({"sales:2026-02-01": {"day": "2026-02-01"}}, started)
    stored = await figures.load("sales:2026-02-01")
    assert stored is not None
    assert stored.is_stale

    await figures.save_many({"sales:2026-02-01": {"day": "2026-02-01"}}, started + DAY)
    stored = await figures.load("sales:2026-02-01")
    assert stored is not None
    assert not stored.is_stale


async def test_a_period_of_more_days_than_kept_is_computed_from_the_orders(
    dshop: AsyncShop, buyer: Customer, kite: ProductInDB, midnight: datetime
) -> None:
    await place(dshop, buyer, kite, 3, midnight - 100 * DAY)
    period = SalesPeriod(start=midnight - (MAX_DAYS + 1) * DAY, end=midnight)

    report = await dshop.analytics.sales(period)

    assert report.summary.total_sales == 2_100
    # No day kept (the backdated order's day is only marked, never computed).
    kept = dshop.repositories.figures.collection.find({"value.day": {"$exists": True}})
    assert await kept.to_list() == []


async def test_a_fresh_report_keeps_its_full_days_even_without_sales(
    dshop: AsyncShop, midnight: datetime
) -> None:
    period = SalesPeriod(start=midnight - 3 * DAY, end=midnight)

    await dshop.analytics.sales(period, fresh=True)

    kept = await dshop.repositories.figures.load_many(
        [figures_name((midnight - n * DAY).date()) for n in (1, 2, 3)]
    )
    assert len(kept) == 3
    assert all(stored.value["orders_count"] == 0 for stored in kept.values())
