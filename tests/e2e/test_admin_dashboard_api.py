"""The admin routes the dashboard page needs: recent orders and the mail outbox, over HTTP."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.e2e.support import Account, Api, create_product, new_buyer, parse_time, place_order

DASHBOARD_ROUTES = [
    pytest.param("/admin/orders/recent", id="recent-orders"),
    pytest.param("/admin/orders/recent?limit=5", id="recent-orders-limited"),
    pytest.param("/admin/outbox/stats", id="outbox-stats"),
]
OUTBOX_KEYS = {"pending", "sent", "failed", "oldest_pending_at", "oldest_pending_age_seconds"}


def recent(client: httpx.Client, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get("/admin/orders/recent", params=params, headers=headers)
    assert response.status_code == 200, response.text
    orders: list[dict[str, Any]] = response.json()
    return orders


def outbox(client: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get("/admin/outbox/stats", headers=headers)
    assert response.status_code == 200, response.text
    stats: dict[str, Any] = response.json()
    return stats


# --- Who may call them -----------------------------------------------------------------


@pytest.mark.parametrize("url", DASHBOARD_ROUTES)
def test_the_dashboard_routes_refuse_no_token_with_401(client: httpx.Client, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("url", DASHBOARD_ROUTES)
def test_the_dashboard_routes_refuse_an_ordinary_user_with_403(
    client: httpx.Client, user: Account, url: str
) -> None:
    response = client.get(url, headers=user.headers)

    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


@pytest.mark.parametrize("url", DASHBOARD_ROUTES)
def test_the_dashboard_routes_refuse_a_revoked_token_with_401(
    client: httpx.Client, api: Api, app: Any, url: str
) -> None:
    token = api.login(app.admin_email, app.admin_password)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/auth/logout", headers=headers).status_code == 204

    assert client.get(url, headers=headers).status_code == 401


# --- GET /admin/orders/recent ----------------------------------------------------------


def test_recent_orders_are_everyones_newest_first_with_their_buyer(
    client: httpx.Client, api: Api, admin_headers: dict[str, str]
) -> None:
    product = create_product(client, admin_headers, price=250, stock=20)
    first = new_buyer(api, client, admin_headers, funds=10_000)
    second = new_buyer(api, client, admin_headers, funds=10_000)
    placed = []
    for buyer, quantity in ((first, 1), (second, 2), (first, 3)):
        response = place_order(client, buyer, [(product["id"], quantity)])
        assert response.status_code == 201, response.text
        placed.append((buyer, response.json()))

    orders = recent(client, admin_headers, limit=3)

    assert [entry["order"]["id"] for entry in orders] == [o["id"] for _, o in reversed(placed)]
    for entry, (buyer, order) in zip(orders, reversed(placed), strict=True):
        assert set(entry) == {"order", "buyer"}
        assert entry["order"] == order
        assert entry["buyer"] == {"id": buyer.id, "name": buyer.name, "email": buyer.email}
    times = [parse_time(entry["order"]["created_at"]) for entry in orders]
    assert times == sorted(times, reverse=True)


def test_recent_orders_default_to_ten_and_keep_to_the_limit(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    everything = recent(client, admin_headers, limit=100)
    default = recent(client, admin_headers)

    assert len(default) == min(10, len(everything))
    assert default == everything[: len(default)]
    assert recent(client, admin_headers, limit=1) == everything[:1]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5", "99999999999999999999"])
def test_recent_orders_refuse_a_limit_out_of_bounds_with_422(
    client: httpx.Client, admin_headers: dict[str, str], limit: str
) -> None:
    response = client.get("/admin/orders/recent", params={"limit": limit}, headers=admin_headers)

    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    assert "limit" in response.json()["detail"]


# --- GET /admin/outbox/stats -----------------------------------------------------------


def test_the_outbox_stats_have_their_shape(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    stats = outbox(client, admin_headers)

    assert OUTBOX_KEYS | {"as_of"} == set(stats)
    for status in ("pending", "sent", "failed"):
        assert isinstance(stats[status], int)
        assert not isinstance(stats[status], bool)
    parse_time(stats["as_of"])
    if stats["pending"] == 0:
        assert stats["oldest_pending_at"] is None
        assert stats["oldest_pending_age_seconds"] is None
    else:
        oldest = parse_time(stats["oldest_pending_at"])
        age = (parse_time(stats["as_of"]) - oldest).total_seconds()
        assert stats["oldest_pending_age_seconds"] == int(age)


def test_a_new_users_welcome_e_mail_is_counted_and_then_sent(
    client: httpx.Client, api: Api, admin_headers: dict[str, str]
) -> None:
    """The in-process worker enqueues a welcome and sends it (to .eml files here)."""
    before = outbox(client, admin_headers)
    api.new_account("Outbox Counted")

    deadline = time.monotonic() + 20
    stats = outbox(client, admin_headers)
    while stats["sent"] <= before["sent"] and time.monotonic() < deadline:
        time.sleep(0.1)
        stats = outbox(client, admin_headers)

    assert stats["sent"] >= before["sent"] + 1
    total_before = before["pending"] + before["sent"] + before["failed"]
    assert stats["pending"] + stats["sent"] + stats["failed"] >= total_before + 1
    assert stats["failed"] == before["failed"]


# --- OpenAPI -----------------------------------------------------------------------------


def test_the_dashboard_routes_are_documented_with_response_models(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]

    recent_op = paths["/admin/orders/recent"]["get"]
    stats_op = paths["/admin/outbox/stats"]["get"]
    assert set(recent_op["responses"]) >= {"200", "401", "403", "422"}
    assert set(stats_op["responses"]) >= {"200", "401", "403"}
    ok = recent_op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["type"] == "array"
    assert ok["items"] == {"$ref": "#/components/schemas/RecentOrder"}
    stats_ref = stats_op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert stats_ref == "#/components/schemas/OutboxStats"
    assert set(schema["components"]["schemas"]["OutboxStats"]["properties"]) >= OUTBOX_KEYS
    limit = next(p for p in recent_op["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)
    # The page is no API: it stays out of the schema.
    assert "/admin" not in paths


# --- The page and its assets -------------------------------------------------------------


def test_the_dashboard_page_is_served_without_sign_in(client: httpx.Client) -> None:
    response = client.get("/admin")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert '<script type="module" src="/admin/assets/dashboard.js">' in response.text


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("dashboard.js", "text/javascript"),
        ("charts.js", "text/javascript"),
        ("api.js", "text/javascript"),
        ("format.js", "text/javascript"),
        ("dashboard.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_the_dashboard_assets_are_served_from_the_package(
    client: httpx.Client, name: str, media_type: str
) -> None:
    response = client.get(f"/admin/assets/{name}")

    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.content


@pytest.mark.parametrize(
    "path", ["/admin/assets/missing.js", "/admin/assets/../routers/admin.py", "/admin/assets/"]
)
def test_nothing_else_is_served_under_the_assets_path(client: httpx.Client, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 404


def test_the_existing_admin_json_routes_still_answer_under_admin(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    for path in ("/admin/stats/users", "/admin/stats/products"):
        response = client.get(path, headers=admin_headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
