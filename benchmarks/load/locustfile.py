"""A day of customers, compressed: the mix `benchmarks/load/run.py` drives with Locust.

Customers browse categories and their pages, search rare and common words, read
products, place and cancel orders, transfer money and look at their own orders
and wallet; one admin keeps the dashboards, the user list and everyone's orders
open. Each request is named by its route, so Locust's figures are per route.

An answer is a success when the shop answered it as it should: 2xx, or a 409
for stock or funds (a refusal is an answer). A 5xx, no answer, or any other 4xx
(the mix is built to send valid requests) is a failure.

The plan (who signs in, which products and words) is written by `run.py` to the
JSON file named by ``MONGOSHOP_LOAD_PLAN``.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import gevent
from locust import HttpUser, between, task
from locust.clients import ResponseContextManager

PLAN: dict[str, Any] = json.loads(Path(os.environ["MONGOSHOP_LOAD_PLAN"]).read_text())
SIGN_IN_ATTEMPTS = 20
ANSWERS = {409}
"""Refusals that are answers: out of stock, insufficient funds, already cancelled."""
_customers = count()


def judge(response: ResponseContextManager) -> None:
    if response.status_code < 400 or response.status_code in ANSWERS:
        response.success()
    else:
        response.failure(f"{response.status_code}: {response.text[:200]}")


class SignedIn(HttpUser):
    """Signs in at start; its reads carry the token and are judged like every answer."""

    abstract = True

    def sign_in(self, email: str, password: str) -> None:
        """Sign in as a well-behaved client: a 503 (password checks are bounded: a crowd
        signing in at once is told to come back) is sent again after its Retry-After."""
        for _ in range(SIGN_IN_ATTEMPTS):
            response = self.client.post(
                "/auth/login", json={"email": email, "password": password}, name="POST /auth/login"
            )
            if response.status_code != 503:
                break
            gevent.sleep(float(response.headers.get("retry-after", "1")))
        response.raise_for_status()
        self.auth = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def get(self, path: str, name: str, **params: Any) -> None:
        with self.client.get(
            path, params=params, headers=self.auth, name=name, catch_response=True
        ) as response:
            judge(response)

    def post(self, path: str, name: str, body: Any = None, *, key: bool = False) -> Any:
        """POST `body`; with `key`, a fresh Idempotency-Key. The created document or None."""
        headers = {**self.auth, **({"Idempotency-Key": uuid.uuid4().hex} if key else {})}
        with self.client.post(
            path, json=body, headers=headers, name=name, catch_response=True
        ) as response:
            judge(response)
            return response.json() if response.status_code == 201 else None


class Customer(SignedIn):
    """A signed-in customer with a funded wallet."""

    weight = 1
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        me = PLAN["customers"][next(_customers) % len(PLAN["customers"])]
        self.sign_in(me["email"], PLAN["password"])
        self.account = me["account"]
        self.rng = random.Random(me["email"])
        self.orders: list[str] = []

    @task(10)
    def browse_a_category(self) -> None:
        category = self.rng.choice(PLAN["categories"])
        page = self.rng.choice([1, 1, 1, 2, 3])
        self.get("/products", "GET /products?category", category=category, page=page)

    @task(3)
    def browse_the_catalog(self) -> None:
        self.get("/products", "GET /products")

    @task(2)
    def search_a_common_word(self) -> None:
        self.get("/products", "GET /products?q=common", q=PLAN["common_word"])

    @task(3)
    def search_a_rare_word(self) -> None:
        self.get("/products", "GET /products?q=rare", q=self.rng.choice(PLAN["rare_words"]))

    @task(10)
    def read_a_product(self) -> None:
        self.get(f"/products/{self.rng.choice(PLAN['products'])}", "GET /products/{id}")

    @task(4)
    def place_an_order(self) -> None:
        item = {"product_id": self.rng.choice(PLAN["products"]), "quantity": 1}
        placed = self.post("/orders", "POST /orders", {"items": [item]}, key=True)
        if placed is not None:
            self.orders.append(placed["id"])

    @task(1)
    def cancel_an_order(self) -> None:
        if self.orders:
            order = self.orders.pop(self.rng.randrange(len(self.orders)))
            self.post(f"/orders/{order}/cancel", "POST /orders/{id}/cancel")

    @task(3)
    def transfer(self) -> None:
        to = self.rng.choice([a for a in PLAN["accounts"] if a != self.account])
        amount = self.rng.randint(1, 500)
        body = {"to_account_id": to, "amount": amount, "currency": "EUR"}
        self.post("/transfers", "POST /transfers", body, key=True)

    @task(2)
    def my_orders(self) -> None:
        self.get("/orders", "GET /orders (mine)")

    @task(2)
    def my_wallet(self) -> None:
        self.get("/accounts/me", "GET /accounts/me")


class Admin(SignedIn):
    """The shop's admin, on the dashboards and the lists all day."""

    fixed_count = 1
    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        self.sign_in(PLAN["admin_email"], PLAN["admin_password"])
        self.rng = random.Random("admin")

    @task(2)
    def user_dashboard(self) -> None:
        self.get("/admin/stats/users", "GET /admin/stats/users")

    @task(2)
    def product_dashboard(self) -> None:
        self.get("/admin/stats/products", "GET /admin/stats/products")

    @task(1)
    def sales_of_the_month(self) -> None:
        """As the dashboard asks: the last 30 UTC days, today included."""
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        end = today + timedelta(days=1)
        self.get(
            "/admin/analytics/sales",
            "GET /admin/analytics/sales",
            start=(end - timedelta(days=30)).isoformat(),
            end=end.isoformat(),
        )

    @task(2)
    def user_list(self) -> None:
        self.get("/users", "GET /users", page=self.rng.choice([1, 1, 2, 3]))

    @task(2)
    def everyones_orders(self) -> None:
        self.get("/orders", "GET /orders (everyone's)")

    @task(1)
    def recent_orders(self) -> None:
        self.get("/admin/orders/recent", "GET /admin/orders/recent")

    @task(1)
    def outbox(self) -> None:
        self.get("/admin/outbox/stats", "GET /admin/outbox/stats")
