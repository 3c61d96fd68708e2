"""The admin's commerce dashboards over HTTP: product statistics and sales analytics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.support import (
    CURRENCY,
    Account,
    Api,
    around_now,
    assert_error,
    create_product,
    money,
    new_buyer,
    place_order,
    unique_category,
)

BUCKET_EDGES = [0, 1_000, 5_000, 10_000, 50_000, 100_000, None]


def product_stats(client: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    # Figures computed now: the tests compare them across the changes they make.
    response = client.get("/admin/stats/products", headers={**headers, "Cache-Control": "no-cache"})
    assert response.status_code == 200, response.text
    stats: dict[str, Any] = response.json()
    return stats


def sales(client: httpx.Client, headers: dict[str, str], start: str, end: str) -> dict[str, Any]:
    response = client.get(
        "/admin/analytics/sales", params={"start": start, "end": end}, headers=headers
    )
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def bucket_counts(stats: dict[str, Any]) -> list[int]:
    return [bucket["count"] for bucket in stats["price_distribution"]]


# --- GET /admin/stats/products ---------------------------------------------------------


def test_the_product_dashboard_has_its_shape(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    create_product(client, admin_headers, price=2_000, stock=1)

    stats = product_stats(client, admin_headers)

    assert set(stats) == {
        "totals",
        "by_category",
        "price_distribution",
        "top_rated",
        "computed_at",
    }
    totals = stats["totals"]
    assert set(totals) == {"count", "avg_price", "total_inventory", "out_of_stock"}
    assert totals["count"] >= 1
    assert isinstance(totals["total_inventory"], int)
    for row in stats["by_category"]:
        assert set(row) == {"category", "count", "avg_price"}
    assert sum(row["count"] for row in stats["by_category"]) == totals["count"]
    buckets = stats["price_distribution"]
    assert [bucket["min"] for bucket in buckets] == BUCKET_EDGES[:-1]
    assert [bucket["max"] for bucket in buckets] == BUCKET_EDGES[1:]
    assert sum(bucket_counts(stats)) == totals["count"]
    assert 1 <= len(stats["top_rated"]) <= 10
    for product in stats["top_rated"]:
        assert set(product) == {"id", "name", "price", "rating"}
        assert product["price"]["currency"] == CURRENCY
    ratings = [product["rating"] for product in stats["top_rated"]]
    assert ratings == sorted(ratings, reverse=True)


def test_the_product_dashboard_moves_when_products_are_added(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    category = unique_category()
    before = product_stats(client, admin_headers)

    star = create_product(
        client,
        admin_headers,
        name="Star Product",
        category=category,
        price=75_000,
        stock=0,
        rating=5.0,
        review_count=100_000_000,
    )
    create_product(client, admin_headers, category=category, price=999, stock=4)
    after = product_stats(client, admin_headers)

    totals, old = after["totals"], before["totals"]
    assert totals["count"] == old["count"] + 2
    assert totals["total_inventory"] == old["total_inventory"] + 4
    assert totals["out_of_stock"] == old["out_of_stock"] + 1
    rows = [row for row in after["by_category"] if row["category"] == category]
    assert rows == [{"category": category, "count": 2, "avg_price": 37_999.5}]
    moved = [
        new - was for new, was in zip(bucket_counts(after), bucket_counts(before), strict=True)
    ]
    assert moved == [1, 0, 0, 0, 1, 0]
    assert after["top_rated"][0] == {
        "id": star["id"],
        "name": "Star Product",
        "price": money(75_000),
        "rating": 5.0,
    }


# --- GET /admin/analytics/sales --------------------------------------------------------


@pytest.fixture(scope="module")
def analyst_buyer(api: Api, client: httpx.Client, admin_headers: dict[str, str]) -> Account:
    return new_buyer(api, client, admin_headers, funds=10_000)


def test_sales_analytics_reflect_the_orders_placed(
    client: httpx.Client, admin_headers: dict[str, str], analyst_buyer: Account
) -> None:
    start, end = around_now()
    furniture, lighting = unique_category("furn"), unique_category("light")
    table = create_product(client, admin_headers, category=furniture, price=1_000, stock=10)
    stool = create_product(client, admin_headers, category=furniture, price=250, stock=10)
    lamp = create_product(client, admin_headers, category=lighting, price=700, stock=10)
    before = sales(client, admin_headers, start, end)

    first = place_order(client, analyst_buyer, [(table["id"], 2), (lamp["id"], 1)])
    second = place_order(client, analyst_buyer, [(table["id"], 1), (stool["id"], 3)])
    cancelled = place_order(client, analyst_buyer, [(stool["id"], 1)])
    assert first.status_code == second.status_code == cancelled.status_code == 201
    assert (first.json()["total"], second.json()["total"]) == (money(2_700), money(1_750))
    undo = client.post(f"/orders/{cancelled.json()['id']}/cancel", headers=admin_headers)
    assert undo.status_code == 200
    report = sales(client, admin_headers, start, end)

    assert set(report) == {"period", "summary", "by_category", "computed_at"}
    rows = {row["category"]: row for row in report["by_category"]}
    assert rows[furniture] == {
        "category": furniture,
        "total_sales": 2 * 1_000 + 1_000 + 3 * 250,
        "total_items": 6,
        "unique_products_count": 2,
        "orders_count": 2,
        "avg_order_value": (2_700 + 1_750) // 2,
    }
    assert rows[lighting] == {
        "category": lighting,
        "total_sales": 700,
        "total_items": 1,
        "unique_products_count": 1,
        "orders_count": 1,
        "avg_order_value": 2_700,
    }
    categories = [row["category"] for row in report["by_category"]]
    assert categories.index(furniture) < categories.index(lighting)  # by total sales
    summary, old = report["summary"], before["summary"]
    assert set(summary) == {
        "total_sales",
        "total_items",
        "orders_count",
        "categories_count",
        "currency",
    }
    assert summary["currency"] == CURRENCY
    assert summary["total_sales"] - old["total_sales"] == 4_450
    assert summary["total_items"] - old["total_items"] == 7
    assert summary["orders_count"] - old["orders_count"] == 2
    assert summary["categories_count"] - old["categories_count"] == 2
    for row in report["by_category"]:
        for field in ("total_sales", "total_items", "avg_order_value"):
            assert isinstance(row[field], int)
    assert summary["total_sales"] == sum(row["total_sales"] for row in report["by_category"])


def test_orders_outside_the_period_are_not_counted(
    client: httpx.Client, admin_headers: dict[str, str], analyst_buyer: Account
) -> None:
    category = unique_category("past")
    product = create_product(client, admin_headers, category=category, price=10, stock=5)
    assert place_order(client, analyst_buyer, [(product["id"], 1)]).status_code == 201
    now = datetime.now(UTC)

    earlier = sales(
        client,
        admin_headers,
        (now - timedelta(days=2)).isoformat(),
        (now - timedelta(days=1)).isoformat(),
    )
    later = sales(
        client,
        admin_headers,
        (now + timedelta(hours=1)).isoformat(),
        (now + timedelta(hours=2)).isoformat(),
    )
    around = sales(client, admin_headers, *around_now())

    for report in (earlier, later):
        assert category not in {row["category"] for row in report["by_category"]}
    assert category in {row["category"] for row in around["by_category"]}


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param("2020-01-01T00:00:00Z", "2100-01-01T00:00:00Z", id="z-suffix"),
        pytest.param("2020-01-01T02:00:00+02:00", "2100-01-01T00:00:00-05:00", id="offsets"),
        pytest.param("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", id="widest"),
        # Beyond what UTC can hold: clamped to the first / last UTC instant.
        pytest.param("0001-01-01T00:00:00+01:00", "2100-01-01T00:00:00Z", id="before-year-1"),
        pytest.param("2020-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00", id="after-year-9999"),
    ],
)
def test_periods_with_any_time_zone_are_accepted(
    client: httpx.Client, admin_headers: dict[str, str], start: str, end: str
) -> None:
    report = sales(client, admin_headers, start, end)

    assert report["summary"]["currency"] == CURRENCY
    assert report["summary"]["categories_count"] == len(report["by_category"])


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param("2026-02-01T00:00:00Z", "2026-02-01T00:00:00Z", id="equal"),
        pytest.param("2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z", id="reversed"),
        pytest.param("2026-01-01T01:00:00+01:00", "2026-01-01T00:00:00Z", id="equal-across-zones"),
    ],
)
def test_an_empty_or_inverted_period_is_a_report_of_zeros(
    client: httpx.Client, admin_headers: dict[str, str], start: str, end: str
) -> None:
    """No instant lies in [start, end) when end <= start (OpenAPI cannot say "end > start")."""
    report = sales(client, admin_headers, start, end)

    assert report["by_category"] == []
    assert report["summary"]["orders_count"] == 0


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"start": "2026-01-01T00:00:00", "end": "2026-02-01T00:00:00Z"}, id="naive"),
        pytest.param(
            {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00"}, id="naive-end"
        ),
        pytest.param({"end": "2026-02-01T00:00:00Z"}, id="no-start"),
        pytest.param({"start": "2026-01-01T00:00:00Z"}, id="no-end"),
        pytest.param({}, id="neither"),
        pytest.param({"start": "yesterday", "end": "2026-02-01T00:00:00Z"}, id="not-a-date"),
    ],
)
def test_a_bad_period_is_422(
    client: httpx.Client, admin_headers: dict[str, str], params: dict[str, str]
) -> None:
    response = client.get("/admin/analytics/sales", params=params, headers=admin_headers)

    assert_error(response, 422, "validation_error")


# --- Who may read them -----------------------------------------------------------------

DASHBOARDS = [
    pytest.param("/admin/stats/products", {}, id="product-stats"),
    pytest.param(
        "/admin/analytics/sales",
        {"start": "2020-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"},
        id="sales",
    ),
]


@pytest.mark.parametrize(("path", "params"), DASHBOARDS)
def test_the_dashboards_refuse_an_ordinary_user_with_403(
    client: httpx.Client, analyst_buyer: Account, path: str, params: dict[str, str]
) -> None:
    response = client.get(path, params=params, headers=analyst_buyer.headers)

    assert_error(response, 403, "forbidden")


@pytest.mark.parametrize(("path", "params"), DASHBOARDS)
def test_the_dashboards_refuse_no_token_with_401(
    client: httpx.Client, path: str, params: dict[str, str]
) -> None:
    response = client.get(path, params=params)

    assert_error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
