"""The admin dashboard in a real browser: sign-in, every panel, the figures the API gave.

Each figure the page shows is compared with the API's answer to the same request,
fetched again here with httpx: the page has no other source of numbers. The page
runs under its strict Content-Security-Policy; any console error (a CSP
violation, a script error) or request to another origin fails the test.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Tab
from tests.e2e.conftest import RunningApp
from tests.e2e.support import Account, Api, create_product, new_buyer, place_order, unique_category

HOSTILE_NAME = '<img src="x" onerror="window.pwned = 1">Mallory'
"""A buyer's name that is markup: the page must show it as text."""


def euros(amount: int) -> str:
    """Minor units as the page shows them (en, EUR): 123456 → "€1,234.56"."""
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    return f"{sign}€{units:,}.{cents:02d}"


def get(client: httpx.Client, headers: dict[str, str], path: str, **params: Any) -> Any:
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def seeded(client: httpx.Client, api: Api, admin_headers: dict[str, str]) -> list[str]:
    """Products in two categories and orders from three buyers (one with a hostile name);
    the categories' names."""
    categories = [unique_category("tea"), unique_category("cups")]
    teapot = create_product(client, admin_headers, category=categories[0], price=4_250, stock=50)
    cup = create_product(client, admin_headers, category=categories[1], price=899, stock=50)
    create_product(client, admin_headers, category=categories[1], price=120_000, stock=0)
    buyers = [new_buyer(api, client, admin_headers, funds=100_000) for _ in range(2)]
    mallory = api.new_account(HOSTILE_NAME)
    credit = client.get("/accounts/me", headers=mallory.headers).json()["id"]
    response = client.post(
        f"/accounts/{credit}/credit",
        json={"amount": 50_000, "currency": "EUR", "reason": "browser test"},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    for buyer, lines in (
        (buyers[0], [(teapot["id"], 1), (cup["id"], 2)]),
        (buyers[1], [(cup["id"], 4)]),
        (mallory, [(teapot["id"], 2)]),
    ):
        assert place_order(client, buyer, lines).status_code == 201
    return categories


def settle_outbox(client: httpx.Client, admin_headers: dict[str, str]) -> None:
    """Wait until the in-process worker has sent every e-mail (to files): stable counts."""
    deadline = time.monotonic() + 20
    while get(client, admin_headers, "/admin/outbox/stats")["pending"] > 0:
        assert time.monotonic() < deadline, "the outbox never emptied"
        time.sleep(0.1)


def sign_in(tab: Tab, email: str, password: str) -> None:
    page = tab.page
    page.goto("/admin")
    expect(page.locator("#sign-in")).to_be_visible()
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#sign-in-button")


def sign_in_as_admin(tab: Tab, app: RunningApp) -> None:
    sign_in(tab, app.admin_email, app.admin_password)
    expect(tab.page.locator("#dashboard")).to_have_attribute("data-ready", "true")


def figure(tab: Tab, name: str) -> tuple[str, str | None]:
    """The text a figure shows, and the raw value the page drew it from."""
    element = tab.page.locator(f'[data-figure="{name}"]')
    return element.inner_text(), element.get_attribute("data-value")


def bars(tab: Tab, chart: str) -> list[tuple[str, str, str]]:
    """(label, raw value, text shown) of every bar of a chart, in drawing order."""
    figure = tab.page.locator(f"#{chart}")
    expect(figure).to_have_attribute("data-ready", "true")
    found: list[tuple[str, str, str]] = figure.locator("g.bar").evaluate_all(
        """groups => groups.map(g => [
            g.dataset.label, g.dataset.value, g.querySelector('.bar-value').textContent
        ])"""
    )
    return [tuple(bar) for bar in found]  # type: ignore[misc]


def count_text(value: int) -> str:
    return f"{value:,}"


def assert_sales_match(tab: Tab, report: dict[str, Any]) -> None:
    summary = report["summary"]
    assert figure(tab, "sales-total") == (
        euros(summary["total_sales"]),
        str(summary["total_sales"]),
    )
    assert figure(tab, "sales-orders") == (
        count_text(summary["orders_count"]),
        str(summary["orders_count"]),
    )
    assert figure(tab, "sales-items") == (
        count_text(summary["total_items"]),
        str(summary["total_items"]),
    )
    assert figure(tab, "sales-categories") == (
        count_text(summary["categories_count"]),
        str(summary["categories_count"]),
    )
    assert bars(tab, "sales-chart") == [
        (row["category"], str(row["total_sales"]), euros(row["total_sales"]))
        for row in report["by_category"]
    ]
    rows = tab.page.locator("#sales-table tbody tr[data-category]")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.category)") == [
        row["category"] for row in report["by_category"]
    ]


def sales_request(tab: Tab, start: str, end: str) -> dict[str, Any]:
    """Choose the period [start, end] (days, inclusive) in the form; the API's answer."""
    page = tab.page
    page.fill("#sales-from", start)
    page.fill("#sales-to", end)
    with page.expect_response(lambda r: "/admin/analytics/sales" in r.url) as answer:
        page.click("#sales-apply")
    report: dict[str, Any] = answer.value.json()
    expect(page.locator("#sales-panel")).to_have_attribute("data-start", f"{start}T00:00:00Z")
    expect(page.locator("#sales-chart")).to_have_attribute("data-ready", "true")
    return report


# --- the admin's dashboard -------------------------------------------------------------------


def test_the_admin_sees_every_panel_with_the_apis_figures(
    tab: Tab,
    app: RunningApp,
    client: httpx.Client,
    admin_headers: dict[str, str],
    seeded: list[str],
) -> None:
    settle_outbox(client, admin_headers)
    # The dashboards' figures computed now (and stored): the page then reads them.
    for path in ("/admin/stats/users", "/admin/stats/products"):
        fresh = client.get(path, headers={**admin_headers, "Cache-Control": "no-cache"})
        assert fresh.status_code == 200
    sign_in_as_admin(tab, app)
    page = tab.page
    expect(page.locator("#who")).to_contain_text(app.admin_email)
    expect(page.locator("#sign-in")).to_be_hidden()

    # Users: the same answer as GET /admin/stats/users now, and when it was computed.
    users = get(client, admin_headers, "/admin/stats/users")
    freshness = page.locator('[data-freshness="users"]')
    expect(freshness).to_contain_text("Figures as of")
    assert freshness.get_attribute("data-computed-at") == users["computed_at"]
    assert figure(tab, "users-total") == (count_text(users["total"]), str(users["total"]))
    assert figure(tab, "users-signups") == (
        count_text(users["signups_this_month"]),
        str(users["signups_this_month"]),
    )
    assert bars(tab, "users-by-status-chart") == [
        (status, str(n), count_text(n)) for status, n in users["by_status"].items()
    ]
    top = page.locator("#top-users tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.userId, r.cells[2].textContent])"
    )
    assert top == [[u["id"], count_text(u["login_count"])] for u in users["top_by_logins"]]

    # Products: figures, the price distribution and the categories.
    products = get(client, admin_headers, "/admin/stats/products")
    totals = products["totals"]
    assert figure(tab, "products-count") == (count_text(totals["count"]), str(totals["count"]))
    assert figure(tab, "products-out-of-stock")[1] == str(totals["out_of_stock"])
    assert figure(tab, "products-inventory")[1] == str(totals["total_inventory"])
    assert figure(tab, "products-avg-price")[1] == str(totals["avg_price"]).removesuffix(".0")
    distribution = bars(tab, "price-distribution-chart")
    assert [(value, text) for _, value, text in distribution] == [
        (str(b["count"]), count_text(b["count"])) for b in products["price_distribution"]
    ]
    assert distribution[0][0] == "€0\u2013€10"
    assert distribution[-1][0] == "€1,000 and more"
    assert bars(tab, "categories-chart") == [
        (row["category"], str(row["count"]), count_text(row["count"]))
        for row in products["by_category"]
    ]
    assert {seeded[0], seeded[1]} <= {row["category"] for row in products["by_category"]}

    # Sales over the default period (the last 30 days): the request the page made.
    start = page.locator("#sales-panel").get_attribute("data-start")
    end = page.locator("#sales-panel").get_attribute("data-end")
    report = get(client, admin_headers, "/admin/analytics/sales", start=start, end=end)
    assert report["summary"]["orders_count"] >= 3
    assert_sales_match(tab, report)

    # Recent orders: newest first, with the buyer shown as text, never as markup.
    recent = get(client, admin_headers, "/admin/orders/recent", limit=10)
    expect(page.locator("#recent-orders")).to_have_attribute("data-ready", "true")
    rows = page.locator("#recent-orders tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.orderId, r.cells[2].textContent, r.cells[4].textContent])"
    )
    assert rows == [
        [
            entry["order"]["id"],
            f"{entry['buyer']['name']} <{entry['buyer']['email']}>",
            euros(entry["order"]["total"]["amount"]),
        ]
        for entry in recent
    ]
    assert any(HOSTILE_NAME in buyer for _, buyer, _ in rows)
    assert page.locator("main img").count() == 0
    assert page.evaluate("() => window.pwned") is None

    # The mail outbox.
    outbox = get(client, admin_headers, "/admin/outbox/stats")
    expect(page.locator("#outbox-figures")).to_have_attribute("data-ready", "true")
    for status in ("pending", "sent", "failed"):
        assert figure(tab, f"outbox-{status}") == (
            count_text(outbox[status]),
            str(outbox[status]),
        )
    assert outbox["sent"] >= 1
    assert figure(tab, "outbox-oldest")[0] == "none waiting"

    # The token lives in sessionStorage, never in a cookie.
    assert page.evaluate("() => sessionStorage.getItem('mongoshop.admin.token')")
    assert page.context.cookies() == []

    tab.screenshot("admin-dashboard")
    tab.assert_clean()


def test_changing_the_sales_period_updates_the_figures(
    tab: Tab,
    app: RunningApp,
    client: httpx.Client,
    admin_headers: dict[str, str],
    seeded: list[str],
) -> None:
    today = datetime.now(UTC).date()
    day, tomorrow = today.isoformat(), (today + timedelta(days=1)).isoformat()
    # Today's figures computed now (and kept): another test's page may have computed
    # them before the seeded orders, and they are refreshed only every few minutes.
    fresh = client.get(
        "/admin/analytics/sales",
        params={"start": f"{day}T00:00:00Z", "end": f"{tomorrow}T00:00:00Z"},
        headers={**admin_headers, "Cache-Control": "no-cache"},
    )
    assert fresh.status_code == 200, fresh.text
    sign_in_as_admin(tab, app)

    # A period before the shop existed: nothing sold.
    empty = sales_request(tab, "2020-01-01", "2020-01-31")
    assert empty == get(
        client,
        admin_headers,
        "/admin/analytics/sales",
        start="2020-01-01T00:00:00Z",
        end="2020-02-01T00:00:00Z",
    )
    assert empty["summary"]["total_sales"] == 0
    assert_sales_match(tab, empty)
    assert bars(tab, "sales-chart") == []
    expect(tab.page.locator("#sales-chart")).to_contain_text("No sales in this period")

    # Today only: the seeded orders, and when their figures were computed.
    sold = sales_request(tab, day, day)
    assert sold == get(
        client,
        admin_headers,
        "/admin/analytics/sales",
        start=f"{day}T00:00:00Z",
        end=f"{tomorrow}T00:00:00Z",
    )
    assert sold["summary"]["total_sales"] > 0
    assert {seeded[0], seeded[1]} <= {row["category"] for row in sold["by_category"]}
    assert_sales_match(tab, sold)
    freshness = tab.page.locator('[data-freshness="sales"]')
    expect(freshness).to_contain_text("Figures as of")
    assert freshness.get_attribute("data-computed-at") == sold["computed_at"]

    # A period that ends before it starts is refused by the page, figures unchanged.
    tab.page.fill("#sales-from", day)
    tab.page.fill("#sales-to", "2020-01-01")
    tab.page.click("#sales-apply")
    expect(tab.page.locator("#sales-panel .error")).to_contain_text("before the first")
    assert_sales_match(tab, sold)

    tab.screenshot("admin-dashboard-sales-today")
    tab.assert_clean()


# --- who else gets what ------------------------------------------------------------------------


def test_a_user_who_is_not_an_admin_sees_admins_only(tab: Tab, api: Api) -> None:
    someone: Account = api.new_account("Not An Admin")

    sign_in(tab, someone.email, someone.password)

    page = tab.page
    expect(page.locator("#admins-only")).to_be_visible()
    expect(page.locator("#admins-only")).to_contain_text("admins only")
    expect(page.locator("#dashboard")).to_be_hidden()
    assert not [path for path in tab.api_paths if path.startswith(("/admin/stats", "/admin/o"))]
    tab.screenshot("admin-dashboard-admins-only")

    page.click("#admins-only-sign-out")
    expect(page.locator("#sign-in")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('mongoshop.admin.token')") is None
    tab.assert_clean()


def test_a_wrong_password_is_told_and_nothing_is_stored(tab: Tab, app: RunningApp) -> None:
    sign_in(tab, app.admin_email, "not-the-password")

    expect(tab.page.locator("#sign-in-error")).to_have_text("Wrong e-mail or password.")
    expect(tab.page.locator("#dashboard")).to_be_hidden()
    assert tab.page.evaluate("() => sessionStorage.getItem('mongoshop.admin.token')") is None
    tab.assert_clean(allowed_statuses=(401,))


def test_a_revoked_token_returns_to_the_sign_in_form(
    tab: Tab, app: RunningApp, client: httpx.Client
) -> None:
    sign_in_as_admin(tab, app)
    page = tab.page
    token = page.evaluate("() => sessionStorage.getItem('mongoshop.admin.token')")
    response = client.post("/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 204

    page.click("#refresh")

    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#sign-in-notice")).to_contain_text("sign in again")
    expect(page.locator("#dashboard")).to_be_hidden()
    assert page.evaluate("() => sessionStorage.getItem('mongoshop.admin.token')") is None

    # A reload with an invalid token in storage lands on the form too.
    page.evaluate("() => sessionStorage.setItem('mongoshop.admin.token', 'not-a-token')")
    page.reload()
    expect(page.locator("#sign-in-notice")).to_contain_text("sign in again")
    tab.assert_clean(allowed_statuses=(401,))


def test_the_page_is_served_under_a_strict_content_security_policy(
    tab: Tab, client: httpx.Client
) -> None:
    response = tab.page.goto("/admin")
    assert response is not None
    assert response.status == 200
    policy = tab.page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content")
    assert policy is not None
    assert "default-src 'self'" in policy
    html = client.get("/admin").text
    assert "<style" not in html
    assert " style=" not in html
    assert "<script>" not in html
    assert re.search(r"\son[a-z]+=", html) is None
    expect(tab.page.locator("#sign-in")).to_be_visible()
    tab.assert_clean()
