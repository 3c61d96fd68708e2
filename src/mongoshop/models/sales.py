"""The sales report in days: each UTC day's sales are figures kept in the `figures`
collection, and a report adds up its days.

A report over a month then reads thirty documents by `_id` instead of the
month's orders, whatever the shop holds. A day's figures are exact once they are
computed after the day has *settled* (its end plus `SETTLE`: no order placed
that day can still be committing); until then they are refreshed like the other
dashboards. A settled day changes only when one of its orders is cancelled (or
backdated in by the seed command), and that write marks the day stale in its own
transaction (`stale_at`), so the next report recomputes it.

Distinct products cannot be summed across days, so each day keeps the ids of the
products it sold per category (bounded by the catalog, not by the orders).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel

from mongoshop.models.orders import CategorySales, SalesPeriod, SalesReport, SalesSummary

SETTLE = timedelta(minutes=10)
"""After its end, how long a day waits before its figures are final: far longer than an
order's transaction may take (the request deadline), so none of its orders still commits."""
MAX_DAYS = 400
"""Reports over more full days are computed from the orders (their cost follows the period)."""
DELETED = "(deleted products)"
"""The category of a product deleted before its day was computed."""
PREFIX = "sales:"


class CategoryDay(BaseModel):
    """A category's sales on one day (or part of one)."""

    category: str
    total_sales: int = 0
    total_items: int = 0
    orders_count: int = 0
    order_totals: int = 0
    """The totals of the orders that hold this category, for the average order value."""
    products: list[str] = []
    """The distinct products sold, by id: distinct counts do not add up across days."""


class DaySales(BaseModel):
    """One UTC day's completed orders (or those in part of it, at a report's edges)."""

    day: str
    orders_count: int = 0
    categories: list[CategoryDay] = []


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def figures_name(day: date) -> str:
    """The day's document in `figures`."""
    return f"{PREFIX}{day.isoformat()}"


def is_final(day: date, computed_at: datetime) -> bool:
    """Whether figures computed at `computed_at` hold every order of `day` for good."""
    return computed_at >= start_of(day) + timedelta(days=1) + SETTLE


def needs_mark(created_at: datetime, now: datetime) -> bool:
    """Whether a change now to an order created at `created_at` must mark its day stale.

    Half the settling time before a day's figures can be final: a write that
    started before that mark is committed long before the day's final figures
    start reading."""
    return now >= start_of(day_of(created_at)) + timedelta(days=1) + SETTLE / 2


def full_days(period: SalesPeriod) -> list[date] | None:
    """The UTC days wholly inside a non-empty period, in order; None past `MAX_DAYS`."""
    first = day_of(period.start)
    end = day_of(period.end)
    if start_of(first) < period.start:
        if first == end:
            return []
        first += timedelta(days=1)
    count = max((end - first).days, 0)
    if count > MAX_DAYS:
        return None
    return [first + timedelta(days=n) for n in range(count)]


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def report(
    period: SalesPeriod,
    currency: str,
    pieces: Iterable[DaySales],
    computed_at: datetime | None,
) -> SalesReport:
    """The report that adds up `pieces` (days and parts of days with no order in common)."""
    categories: dict[str, CategoryDay] = {}
    products: dict[str, set[str]] = {}
    orders = 0
    for piece in pieces:
        orders += piece.orders_count
        for row in piece.categories:
            total = categories.setdefault(row.category, CategoryDay(category=row.category))
            total.total_sales += row.total_sales
            total.total_items += row.total_items
            total.orders_count += row.orders_count
            total.order_totals += row.order_totals
            products.setdefault(row.category, set()).update(row.products)
    by_category = sorted(
        (
            CategorySales(
                category=row.category,
                total_sales=row.total_sales,
                total_items=row.total_items,
                unique_products_count=len(products[row.category]),
                orders_count=row.orders_count,
                avg_order_value=round(row.order_totals / row.orders_count)
                if row.orders_count
                else 0,
            )
            for row in categories.values()
        ),
        key=lambda row: (-row.total_sales, row.category),
    )
    return SalesReport(
        period=period,
        summary=SalesSummary(
            total_sales=sum(row.total_sales for row in by_category),
            total_items=sum(row.total_items for row in by_category),
            orders_count=orders,
            categories_count=len(by_category),
            currency=currency,
        ),
        by_category=by_category,
        computed_at=computed_at,
    )
