"""`mongoshop stats`: the dashboards as tables in the terminal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from mongoshop.cli.common import console, open_shop, settings_from_env
from mongoshop.errors import ValidationFailed
from mongoshop.models.money import format_money
from mongoshop.models.orders import SalesPeriod, SalesReport
from mongoshop.models.products import ProductStats
from mongoshop.models.users import UserStats
from mongoshop.validation import describe_errors


class Dashboard(StrEnum):
    USERS = "users"
    PRODUCTS = "products"
    SALES = "sales"


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    return table


def stats(
    dashboard: Annotated[Dashboard, typer.Argument(help="users, products or sales")],
    start: Annotated[
        datetime | None, typer.Option(help="sales: start (inclusive, UTC if no zone)")
    ] = None,
    end: Annotated[
        datetime | None, typer.Option(help="sales: end (exclusive, UTC if no zone)")
    ] = None,
) -> None:
    """Print a dashboard: the same figures as the admin API, computed now and kept
    (sales: the full days of the period), as the API's own are when next read.

    Examples:
      mongoshop stats users
      mongoshop stats sales --start 2026-01-01 --end 2026-07-01
    """
    with open_shop(settings_from_env()) as shop:
        if dashboard is Dashboard.USERS:
            _print_users(shop.analytics.user_dashboard(fresh=True))
        elif dashboard is Dashboard.PRODUCTS:
            _print_products(shop.analytics.product_dashboard(fresh=True), shop.settings.currency)
        else:
            period = _period(start, end)
            _print_sales(shop.analytics.sales(period, fresh=True), shop.settings.currency)


def _print_users(users: UserStats) -> None:
    table = _table("users", "figure", "value")
    table.add_row("total", str(users.total))
    for status, count in users.by_status.items():
        table.add_row(f"status {status.value}", str(count))
    table.add_row("sign-ups this month (UTC)", str(users.signups_this_month))
    console.print(table)
    top = _table("top 10 by logins", "name", "e-mail", "logins")
    for user in users.top_by_logins:
        top.add_row(user.name, user.email, str(user.login_count))
    console.print(top)


def _print_products(products: ProductStats, currency: str) -> None:
    totals = products.totals
    table = _table("products", "figure", "value")
    table.add_row("products", str(totals.count))
    table.add_row("average price", format_money(round(totals.avg_price), currency))
    table.add_row("units in stock", str(totals.total_inventory))
    table.add_row("out of stock", str(totals.out_of_stock))
    console.print(table)
    categories = _table("by category", "category", "products", "average price")
    for row in products.by_category:
        categories.add_row(
            row.category, str(row.count), format_money(round(row.avg_price), currency)
        )
    console.print(categories)
    buckets = _table("price distribution", "price range", "products")
    for bucket in products.price_distribution:
        high = "and more" if bucket.max is None else f"to {format_money(bucket.max, currency)}"
        buckets.add_row(f"{format_money(bucket.min, currency)} {high}", str(bucket.count))
    console.print(buckets)


def _period(start: datetime | None, end: datetime | None) -> SalesPeriod:
    """The period asked for (the last 30 days by default); an empty one is surely a typo
    here (the API answers it with an empty report)."""
    now = datetime.now(UTC)
    try:
        period = SalesPeriod(
            start=_utc(start) if start else now - timedelta(days=30),
            end=_utc(end) if end else now,
        )
    except ValidationError as exc:
        raise ValidationFailed(describe_errors(exc.errors(), limit=1)) from None
    if period.is_empty:
        raise ValidationFailed("--end must be after --start")
    return period


def _print_sales(report: SalesReport, currency: str) -> None:
    period = report.period
    table = _table(
        f"sales {period.start:%Y-%m-%d} to {period.end:%Y-%m-%d}",
        "category",
        "sales",
        "items",
        "products",
        "orders",
        "average order",
    )
    for sales in report.by_category:
        table.add_row(
            sales.category,
            format_money(sales.total_sales, currency),
            str(sales.total_items),
            str(sales.unique_products_count),
            str(sales.orders_count),
            format_money(sales.avg_order_value, currency),
        )
    summary = report.summary
    table.add_row(
        "[bold]total",
        format_money(summary.total_sales, currency),
        str(summary.total_items),
        "",
        str(summary.orders_count),
        "",
    )
    console.print(table)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
