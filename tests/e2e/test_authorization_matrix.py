"""Who may call what: every route x (anonymous, user, another user, admin), from the route table.

`MATRIX` holds one rule per route of the app (method and path template, as the
app declares them) with the expected status for each principal. The first test
reads the app's own route table and fails if a route has no rule (or a rule
names a route that is gone), so a new route cannot land without saying who may
call it. The second sends every request for real to the running app.

"user" acts on its own resources (its id, its order, its account); "other" is
another signed-in user acting on those same resources; "admin" is an admin
with a token of its own. Each route gets fresh resources and fresh tokens, and
the principals go in the order anonymous, other, user, admin, so a change made
by one (a cancelled order, a revoked token) never decides another's outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import routing
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from mongoshop.api.app import create_app
from mongoshop.settings import Settings
from tests.e2e.conftest import RunningApp
from tests.e2e.support import (
    Account,
    Api,
    bearer,
    create_product,
    credit,
    fund,
    money,
    place_order,
    product_body,
)

PRINCIPALS = ("anonymous", "other", "user", "admin")


@dataclass
class World:
    """Fresh resources for one route: the user's, another user's, and tokens for all four."""

    user: Account
    other: Account
    admin_token: str
    product_id: str
    orders: dict[str, str]
    """One of the user's orders per principal, so a cancel by one leaves the others' intact."""
    user_account_id: str
    other_account_id: str
    webhook_id: str

    def headers(self, principal: str) -> dict[str, str]:
        token = {
            "anonymous": None,
            "other": self.other.token,
            "user": self.user.token,
            "admin": self.admin_token,
        }[principal]
        return {} if token is None else bearer(token)


Build = Callable[[World, str], tuple[str, Any]]
"""The concrete path (and JSON body, or None) of a route's request, in a world, for a principal."""


@dataclass(frozen=True)
class Rule:
    build: Build
    anonymous: int
    other: int
    user: int
    admin: int

    def expected(self, principal: str) -> int:
        status: int = getattr(self, principal)
        return status


def path(template: str, body: Any = None) -> Build:
    """A request whose path needs nothing from the world."""
    return lambda world, principal: (template, body)


def public(build: Build, status: int = 200) -> Rule:
    return Rule(build, status, status, status, status)


def signed_in(build: Build, status: int = 200) -> Rule:
    """Any signed-in user, acting as themselves."""
    return Rule(build, 401, status, status, status)


def admin_only(build: Build, status: int = 200) -> Rule:
    return Rule(build, 401, 403, 403, status)


def owner_or_admin(build: Build, status: int = 200) -> Rule:
    """The owner and admins; anyone else is told it does not exist (404, not 403)."""
    return Rule(build, 401, 404, status, status)


DISCARD_URL = "http://127.0.0.1:9/matrix"
"""Nothing listens there: deliveries fail (loopback is allowed in the e2e app)."""
UNKNOWN_DELIVERY = "evt_" + "0" * 32 + "." + "0" * 24


def unique_email() -> str:
    return f"matrix-{uuid.uuid4().hex[:12]}@example.com"


MATRIX: dict[tuple[str, str], Rule] = {
    # --- service and documentation ---
    ("GET", "/health"): public(path("/health")),
    ("GET", "/openapi.json"): public(path("/openapi.json")),
    ("GET", "/docs"): public(path("/docs")),
    ("GET", "/docs/oauth2-redirect"): public(path("/docs/oauth2-redirect")),
    ("GET", "/redoc"): public(path("/redoc")),
    # --- auth ---
    ("POST", "/auth/register"): public(
        lambda w, p: (
            "/auth/register",
            {"name": "New Person", "email": unique_email(), "password": "correct-horse-1"},
        ),
        202,
    ),
    ("POST", "/auth/login"): public(
        lambda w, p: ("/auth/login", {"email": w.user.email, "password": w.user.password})
    ),
    ("POST", "/auth/logout"): signed_in(path("/auth/logout"), 204),
    # A made-up code: 404 for anyone (the code is the credential, not the token).
    ("POST", "/auth/verify"): public(lambda w, p: ("/auth/verify", {"token": "x" * 43}), 404),
    # --- users ---
    ("GET", "/users/me"): signed_in(path("/users/me")),
    ("GET", "/users"): admin_only(path("/users")),
    ("GET", "/users/search/{query}"): admin_only(
        lambda w, p: (f"/users/search/{w.user.name}", None)
    ),
    ("POST", "/users/bulk-status"): admin_only(
        lambda w, p: ("/users/bulk-status", {"ids": [w.user.id], "status": "inactive"})
    ),
    ("GET", "/users/{user_id}"): owner_or_admin(lambda w, p: (f"/users/{w.user.id}", None)),
    ("PATCH", "/users/{user_id}"): owner_or_admin(
        lambda w, p: (f"/users/{w.user.id}", {"name": "Renamed Person"})
    ),
    ("POST", "/users/{user_id}/suspend"): admin_only(
        lambda w, p: (f"/users/{w.user.id}/suspend", None)
    ),
    ("POST", "/users/{user_id}/password-reset"): admin_only(
        lambda w, p: (f"/users/{w.user.id}/password-reset", {"new_password": "reset-by-admin-1"})
    ),
    # --- catalog ---
    ("GET", "/products"): public(path("/products")),
    ("GET", "/products/{product_id}"): public(lambda w, p: (f"/products/{w.product_id}", None)),
    ("POST", "/products"): admin_only(lambda w, p: ("/products", product_body()), 201),
    ("POST", "/products/bulk-prices"): admin_only(
        lambda w, p: (
            "/products/bulk-prices",
            [{"product_id": w.product_id, "new_price": money(1_234)}],
        )
    ),
    ("PATCH", "/products/{product_id}"): admin_only(
        lambda w, p: (f"/products/{w.product_id}", {"description": "changed"})
    ),
    ("POST", "/products/{product_id}/inventory"): admin_only(
        lambda w, p: (f"/products/{w.product_id}/inventory", {"change": 1})
    ),
    # --- wallet ---
    ("GET", "/accounts/me"): signed_in(path("/accounts/me")),
    ("GET", "/accounts/me/ledger"): signed_in(path("/accounts/me/ledger")),
    ("POST", "/accounts/{account_id}/credit"): admin_only(
        lambda w, p: (
            f"/accounts/{w.user_account_id}/credit",
            {**money(100), "reason": "authorization matrix"},
        )
    ),
    ("POST", "/transfers"): signed_in(
        lambda w, p: (
            "/transfers",
            {
                "to_account_id": w.other_account_id if p == "user" else w.user_account_id,
                **money(10),
            },
        ),
        201,
    ),
    # --- orders ---
    ("POST", "/orders"): signed_in(
        lambda w, p: ("/orders", {"items": [{"product_id": w.product_id, "quantity": 1}]}), 201
    ),
    ("GET", "/orders"): signed_in(path("/orders")),
    ("GET", "/orders/{order_id}"): owner_or_admin(lambda w, p: (f"/orders/{w.orders[p]}", None)),
    ("POST", "/orders/{order_id}/cancel"): owner_or_admin(
        lambda w, p: (f"/orders/{w.orders[p]}/cancel", None)
    ),
    # --- operations: scraped by Prometheus without a token unless one is configured ---
    ("GET", "/metrics"): public(path("/metrics")),
    # --- admin dashboard data ---
    ("GET", "/admin/stats/users"): admin_only(path("/admin/stats/users")),
    ("GET", "/admin/stats/products"): admin_only(path("/admin/stats/products")),
    ("GET", "/admin/analytics/sales"): admin_only(
        path("/admin/analytics/sales?start=2026-01-01T00:00:00Z&end=2026-02-01T00:00:00Z")
    ),
    ("GET", "/admin/orders/recent"): admin_only(path("/admin/orders/recent?limit=5")),
    ("GET", "/admin/outbox/stats"): admin_only(path("/admin/outbox/stats")),
    # --- webhooks (a made-up delivery id: 404 for the admin) ---
    ("POST", "/admin/webhooks"): admin_only(
        path("/admin/webhooks", {"url": DISCARD_URL, "event_types": ["product.restocked"]}), 201
    ),
    ("GET", "/admin/webhooks"): admin_only(path("/admin/webhooks")),
    ("GET", "/admin/webhooks/stats"): admin_only(path("/admin/webhooks/stats")),
    ("GET", "/admin/webhooks/deliveries/dead"): admin_only(path("/admin/webhooks/deliveries/dead")),
    ("GET", "/admin/webhooks/deliveries/{delivery_id}"): admin_only(
        path(f"/admin/webhooks/deliveries/{UNKNOWN_DELIVERY}"), 404
    ),
    ("POST", "/admin/webhooks/deliveries/{delivery_id}/redrive"): admin_only(
        path(f"/admin/webhooks/deliveries/{UNKNOWN_DELIVERY}/redrive"), 404
    ),
    ("GET", "/admin/webhooks/{subscription_id}"): admin_only(
        lambda w, p: (f"/admin/webhooks/{w.webhook_id}", None)
    ),
    ("PATCH", "/admin/webhooks/{subscription_id}"): admin_only(
        lambda w, p: (f"/admin/webhooks/{w.webhook_id}", {"status": "paused"})
    ),
    ("DELETE", "/admin/webhooks/{subscription_id}"): admin_only(
        lambda w, p: (f"/admin/webhooks/{w.webhook_id}", None), 204
    ),
    ("GET", "/admin/webhooks/{subscription_id}/deliveries"): admin_only(
        lambda w, p: (f"/admin/webhooks/{w.webhook_id}/deliveries", None)
    ),
    ("POST", "/admin/webhooks/{subscription_id}/redrive"): admin_only(
        lambda w, p: (f"/admin/webhooks/{w.webhook_id}/redrive", None)
    ),
    # --- the admin dashboard page: public like a login page, it holds no data ---
    ("GET", "/admin"): public(path("/admin")),
    ("GET", "/admin/assets/{path}"): public(path("/admin/assets/dashboard.js")),
}


def route_table() -> set[tuple[str, str]]:
    """Every (method, path) the app serves, read from the app itself."""
    app = create_app(Settings(environment="test"))  # type: ignore[call-arg]
    # FastAPI >= 0.16x keeps included routers lazily; this walks into them.
    flatten = getattr(routing, "iter_route_contexts", None)
    contexts = list(flatten(app.routes)) if flatten is not None else list(app.routes)
    routes: set[tuple[str, str]] = set()
    for context in contexts:
        route = getattr(context, "original_route", context)
        if isinstance(route, Mount):
            routes.add(("GET", f"{context.path}/{{path}}"))
        elif isinstance(route, APIRoute | Route):
            methods = (context.methods or {"GET"}) - {"HEAD", "OPTIONS"}
            routes.update((method, context.path) for method in methods)
        else:
            raise AssertionError(f"unknown kind of route: {route!r}")
    return routes


def test_every_route_has_a_rule_and_every_rule_a_route() -> None:
    routes = route_table()

    assert not routes - MATRIX.keys(), f"routes without a rule in MATRIX: {routes - MATRIX.keys()}"
    assert not MATRIX.keys() - routes, f"rules for routes that are gone: {MATRIX.keys() - routes}"


@pytest.fixture
def world(
    api: Api, client: httpx.Client, app: RunningApp, admin_headers: dict[str, str]
) -> Iterator[World]:
    user = api.new_account("Matrix User")
    other = api.new_account("Matrix Other")
    product = create_product(client, admin_headers, stock=10, price=100)
    user_account_id = fund(client, admin_headers, user, 10_000)
    other_account_id = fund(client, admin_headers, other, 10_000)
    admin_token = api.login(app.admin_email, app.admin_password)
    admin_account = client.get("/accounts/me", headers=bearer(admin_token)).json()
    credit(client, admin_headers, admin_account["id"], 10_000)
    webhook = client.post(
        "/admin/webhooks",
        json={"url": DISCARD_URL, "event_types": ["product.restocked"]},
        headers=admin_headers,
    )
    assert webhook.status_code == 201, webhook.text
    orders = {}
    for principal in PRINCIPALS:
        order = place_order(client, user, [(product["id"], 1)])
        assert order.status_code == 201, order.text
        orders[principal] = order.json()["id"]
    yield World(
        user=user,
        other=other,
        admin_token=admin_token,
        product_id=product["id"],
        orders=orders,
        user_account_id=user_account_id,
        other_account_id=other_account_id,
        webhook_id=webhook.json()["id"],
    )
    # Nothing listens at DISCARD_URL: remove the subscriptions the route made, so that
    # the session app's later events do not keep failing towards it.
    for subscription in client.get("/admin/webhooks", headers=admin_headers).json():
        if subscription["url"] == DISCARD_URL:
            client.delete(f"/admin/webhooks/{subscription['id']}", headers=admin_headers)


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda route: " ".join(route))
def test_each_principal_gets_the_expected_answer(
    route: tuple[str, str], world: World, client: httpx.Client
) -> None:
    method, _ = route
    rule = MATRIX[route]
    answers = {}
    for principal in PRINCIPALS:
        url, body = rule.build(world, principal)
        response = client.request(method, url, json=body, headers=world.headers(principal))
        answers[principal] = response.status_code

    assert answers == {principal: rule.expected(principal) for principal in PRINCIPALS}
