"""The rules of the days of sales: which days a period holds whole, when a day's figures
are final, when a change must mark its day, and how days add up to a report."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from mongoshop.models.orders import SalesPeriod
from mongoshop.models.sales import (
    MAX_DAYS,
    SETTLE,
    CategoryDay,
    DaySales,
    full_days,
    is_final,
    needs_mark,
    report,
)

MIDNIGHT = datetime(2026, 3, 10, tzinfo=UTC)
DAY = timedelta(days=1)


def period(start: datetime, end: datetime) -> SalesPeriod:
    return SalesPeriod(start=start, end=end)


def test_a_period_from_midnight_to_midnight_holds_its_days_whole() -> None:
    assert full_days(period(MIDNIGHT, MIDNIGHT + 2 * DAY)) == [date(2026, 3, 10), date(2026, 3, 11)]


def test_the_parts_of_days_at_the_edges_are_not_full_days() -> None:
    start = MIDNIGHT + timedelta(hours=1)
    assert full_days(period(start, MIDNIGHT + 2 * DAY + timedelta(hours=5))) == [date(2026, 3, 11)]
    assert full_days(period(start, MIDNIGHT + timedelta(hours=3))) == []
    assert full_days(period(start, MIDNIGHT + DAY + timedelta(hours=3))) == []


def test_days_are_utc_days_whatever_the_zone_of_the_bounds() -> None:
    paris = timezone(timedelta(hours=1))
    start = datetime(2026, 3, 10, 1, tzinfo=paris)  # midnight UTC
    assert full_days(period(start, start + DAY)) == [date(2026, 3, 10)]


def test_a_period_of_more_days_than_kept_has_none() -> None:
    assert full_days(period(MIDNIGHT, MIDNIGHT + MAX_DAYS * DAY)) is not None
    assert full_days(period(MIDNIGHT, MIDNIGHT + (MAX_DAYS + 1) * DAY)) is None
    assert full_days(period(datetime.min.replace(tzinfo=UTC), MIDNIGHT)) is None


def test_figures_are_final_once_the_day_has_settled() -> None:
    day = MIDNIGHT.date()
    assert not is_final(day, MIDNIGHT + DAY)
    assert not is_final(day, MIDNIGHT + DAY + SETTLE - timedelta(microseconds=1))
    assert is_final(day, MIDNIGHT + DAY + SETTLE)


def test_a_change_marks_its_day_from_half_the_settling_time_on() -> None:
    created = MIDNIGHT + timedelta(hours=23)
    assert not needs_mark(created, created)
    assert not needs_mark(created, MIDNIGHT + DAY + SETTLE / 2 - timedelta(microseconds=1))
    assert needs_mark(created, MIDNIGHT + DAY + SETTLE / 2)
    # Marked before the figures can be final: no change is ever missed by final figures.
    assert SETTLE / 2 < SETTLE


def test_days_add_up_and_distinct_products_are_counted_once() -> None:
    first = DaySales(
        day="2026-03-10",
        orders_count=2,
        categories=[
            CategoryDay(
                category="books",
                total_sales=3_000,
                total_items=3,
                orders_count=2,
                order_totals=4_000,
                products=["a", "b"],
            ),
            CategoryDay(
                category="toys",
                total_sales=1_000,
                total_items=1,
                orders_count=1,
                order_totals=2_000,
                products=["c"],
            ),
        ],
    )
    second = DaySales(
        day="2026-03-11",
        orders_count=1,
        categories=[
            CategoryDay(
                category="books",
                total_sales=1_001,
                total_items=1,
                orders_count=1,
                order_totals=1_001,
                products=["b"],
            )
        ],
    )

    result = report(period(MIDNIGHT, MIDNIGHT + 2 * DAY), "EUR", [first, second], MIDNIGHT)

    books, toys = result.by_category
    assert (books.category, books.total_sales, books.total_items) == ("books", 4_001, 4)
    assert books.unique_products_count == 2  # "b" sold on both days counts once
    assert books.orders_count == 3
    assert books.avg_order_value == round(5_001 / 3)
    assert (toys.category, toys.unique_products_count, toys.avg_order_value) == ("toys", 1, 2_000)
    assert result.summary.orders_count == 3
    assert result.summary.total_sales == 5_001
    assert result.summary.categories_count == 2
    assert result.computed_at == MIDNIGHT


def test_no_day_is_an_empty_report() -> None:
    result = report(period(MIDNIGHT, MIDNIGHT + DAY), "EUR", [], None)
    assert result.by_category == []
    assert result.summary.orders_count == 0
