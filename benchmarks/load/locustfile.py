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

from locust import HttpUser, between, task
from locust.clients import ResponseContextManager

PLAN: dict[str, Any] = json.loads(Path(os.environ["MONGOSHOP_LOAD_PLAN"]).read_text())
ANSWERS = {409}
"""Refusals that are answers: out of stock, insufficient funds, already cancelled."""
_customers = count()


def judge(response: ResponseContextManager) -> None:
    if response.status_code < 400 or response.status_code in ANSWERS:
        response.success()
    else:
        response.failure(f"{response.status_code}: {response.text[:200]}")


class Customer(HttpUser):
    """A signed-in customer with a funded wallet."""

    weight = 1
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        me = PLAN["customers"][next(_customers) % len(PLAN["customers"])]
        response = self.client.post(
            "/auth/login", json={"email": me["email"], "password": PLAN["password"]}
        )
        response.raise_for_status()
        self.auth = {"Authorization": f"Bearer {response.json()['access_token']}"}
        self.account = me["account"]
        self.rng = random.Random(me["email"])
        self.orders: list[str] = []

    def get(self, path: str, name: str, **params: Any) -> None:
        with self.client.get(
            path, params=params, headers=self.auth, name=name, catch_response=True
        ) as response:
            judge(response)

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
        product = self.rng.choice(PLAN["products"])
        with self.client.post(
            "/orders",
            json={"items": [{"product_id": product, "quantity": 1}]},
            headers={**self.auth, "Idempotency-Key": uuid.uuid4().hex},
            name="POST /orders",
            catch_response=True,
        ) as response:
            judge(response)
            if response.status_code == 201:
                self.orders.append(response.json()["id"])

    @task(1)
    def cancel_an_order(self) -> None:
        if not self.orders:
            return
        order = self.orders.pop(self.rng.randrange(len(self.orders)))
        with self.client.post(
            f"/orders/{order}/cancel",
            headers=self.auth,
            name="POST /orders/{id}/cancel",
            catch_response=True,
        ) as response:
            judge(response)

    @task(3)
    def transfer(self) -> None:
        to = self.rng.choice([a for a in PLAN["accounts"] if a != self.account])
        with self.client.post(
            "/transfers",
            json={"to_account_id": to, "amount": self.rng.randint(1, 500), "currency": "EUR"},
            headers={**self.auth, "Idempotency-Key": uuid.uuid4().hex},
            name="POST /transfers",
            catch_response=True,
        ) as response:
            judge(response)

    @task(2)
    def my_orders(self) -> None:
        self.get("/orders", "GET /orders (mine)")

    @task(2)
    def my_wallet(self) -> None:
        self.get("/accounts/me", "GET /accounts/me")


class Admin(HttpUser):
    """The shop's admin, on the dashboards and the lists all day."""

    fixed_count = 1
    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        response = self.client.post(
            "/auth/login", json={"email": PLAN["admin_email"], "password": PLAN["admin_password"]}
        )
        response.raise_for_status()
        self.auth = {"Authorization": f"Bearer {response.json()['access_token']}"}
        self.rng = random.Random("admin")

    def get(self, path: str, name: str, **params: Any) -> None:
        with self.client.get(
            path, params=params, headers=self.auth, name=name, catch_response=True
        ) as response:
            judge(response)

    @task(2)
    def user_dashboard(self) -> None:
        self.get("/admin/stats/users", "GET /admin/stats/users")

    @task(2)
    def product_dashboard(self) -> None:
        self.get("/admin/stats/products", "GET /admin/stats/products")

    @task(1)
    def sales_of_the_month(self) -> None:
        end = datetime.now(UTC)
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
