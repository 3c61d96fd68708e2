"""Growth: every HTTP route's median latency on a small and on a large shop, and the ratio.

One embedded server, one database per size (default: 1,000 and 100,000 users
and products, with as many accounts, orders, ledger entries, transfers, sent
e-mails, sign-in throttle records and tokens), each around the same probe
documents (an admin, a buyer, a payee, a product) created through the services.
For each size `mongoshop serve --no-demo` runs as its own process (with its
event worker, as users run it; ``--no-worker`` to compare without) against its
database, all at once, and every route is called over HTTP (httpx,
one keep-alive connection per size, sequential calls), `--calls` times after
one untimed warm-up call, the sizes taking turns call by call (so that a drift
of the machine over the run does not read as growth); each response's status is
checked.

Kinds of rows, and their targets (large-shop median / small-shop median):

* point: one document, or a few by key (sign-in, a product, an order...): 1.5x.
* listing: an uncached page whose filter is selective (own orders, own ledger,
  recent orders...), repeated identical calls: 2x.
* listing warm: a cached listing page (catalog, admin user list), repeated
  identical calls, served from the API's listing cache: 2x.
* listing cold: the same listing uncached: the first call after the server
  started, then each call after an untimed change that drops the listing cache
  (a product description or a user's age). Reported, no target.
* dashboard: aggregates over whole collections (admin stats, metrics): reported.
* raw point / raw listing: raw PyMongo on the same server in the same run
  (from this process, the server otherwise idle): the server's own growth,
  to read the API's next to. Reported.

    python -m benchmarks.bench_growth [--sizes 1000 100000] [--calls 15] [--no-worker]
        [--traced]

``--traced``: the servers run with tracing on, every trace kept
(``parentbased_always_on``), exporting over OTLP/HTTP to a sink in this process
(`benchmarks.bench_tracing.everything_traced`): what the stored trace contexts and the
spans do to each route's growth.

Growing to 100,000 inserts about a million documents and the cold listings
then read whole collections: expect the large size to take many minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database
from rich.console import Console
from rich.table import Table

from benchmarks.bench_tracing import everything_traced
from benchmarks.filler import (
    CATEGORIES,
    COMMON_PRODUCT_WORD,
    COMMON_USER_WORD,
    fill,
)
from benchmarks.harness import console, embedded_server, save
from mongoshop._sync.repositories.base import NEWEST_FIRST
from mongoshop._sync.shop import Shop
from mongoshop.cli.serve import DEMO_ADMIN_EMAIL
from mongoshop.clock import utcnow
from mongoshop.models.common import Document
from mongoshop.models.money import MAX_AMOUNT, Money
from mongoshop.models.orders import OrderItemRequest, OrderRequest
from mongoshop.models.products import Inventory, ProductCreate
from mongoshop.models.users import UserCreate
from mongoshop.models.wallet import CreditRequest, TransferRequest
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings

DATABASE = "bench_growth_{size}"
"""One database per size, all on the one server: each shop is filled once, then they are
measured side by side."""
PASSWORD = "bench-password-1"
BROAD_CATEGORY = "kitchen"
NEW_CATEGORY = "benchnew"
"""Where `POST /products` puts what it creates, outside the listed category."""
RARE_PRODUCT_WORD = "zanzibar"
"""Only in the probe product's name."""
RARE_USER_WORD = "quixote"
"""Only in the probe buyer's name."""
SETTLE_SECONDS = 1.5
"""Before the warm listings: the change streams' cache evictions of earlier writes are done."""
COLD_SETTLE_SECONDS = 0.1
STREAM_SETTLE_SECONDS = 0.5
"""After a change that only a change stream evicts for: the event's way to the API."""
"""After each untimed invalidating change, before the cold call."""
START_TIMEOUT_SECONDS = 180.0
TABLES = console if console.is_terminal else Console(width=140)
"""Tables wide enough for the operation names when the output is a file or a pipe."""

TARGETS: dict[str, float | None] = {
    "point": 1.5,
    "listing": 2.0,
    "listing warm": 2.0,
    "listing cold": None,
    "dashboard": None,
    "raw point": None,
    "raw listing": None,
}

RUN = uuid.uuid4().hex[:8]
_counter = itertools.count()


def unique() -> str:
    """A value no other call of this run (at any size) gets: e-mails, idempotency keys."""
    return f"{RUN}-{next(_counter)}"


# --- the data ---------------------------------------------------------------------------


@dataclass
class Probe:
    """The documents every size is measured on; created once, before any filler."""

    admin_email: str
    buyer_email: str
    admin_id: str
    buyer_id: str
    payee_id: str
    payee_account: str
    product: str
    currency: str
    replay_key: str
    """An order and a transfer were made with this key: sending it again replays them."""


def create_probe(shop: Shop) -> Probe:
    """The probe admin, buyer, payee and product, through the services (accounts and all)."""
    currency = shop.settings.currency
    admin_email = f"probe-admin-{RUN}@example.com"
    buyer_email = f"probe-buyer-{RUN}@example.com"
    admin = shop.users.create_admin(email=admin_email, password=PASSWORD, name="Probe Admin")
    buyer = shop.users.register(
        UserCreate(name=f"Probe Buyer {RARE_USER_WORD}", email=buyer_email, password=PASSWORD),
        verified=True,
    )
    payee = shop.users.register(
        UserCreate(name="Probe Payee", email=f"probe-payee-{RUN}@example.com", password=PASSWORD),
        verified=True,
    )
    shop.wallet.credit(
        str(shop.wallet.account_of(buyer).id),
        CreditRequest(amount=50_000_000, currency=currency, reason="probe funds"),
    )
    product = shop.catalog.create(
        ProductCreate(
            name=f"Probe teapot {RARE_PRODUCT_WORD}",
            category=BROAD_CATEGORY,
            price=Money(amount=100, currency=currency),
            tags=["probe"],
            inventory=Inventory(quantity=1_000_000),
        )
    )
    payee_account = shop.wallet.account_of(payee).id
    replay_key = f"probe-replay-{RUN}"
    shop.orders.place(
        buyer,
        OrderRequest(items=[OrderItemRequest(product_id=str(product.id), quantity=1)]),
        replay_key,
    )
    shop.wallet.transfer(
        buyer,
        TransferRequest(to_account_id=str(payee_account), amount=1, currency=currency),
        replay_key,
    )
    return Probe(
        admin_email=admin_email,
        buyer_email=buyer_email,
        admin_id=str(admin.id),
        buyer_id=str(buyer.id),
        payee_id=str(payee.id),
        payee_account=str(payee_account),
        product=str(product.id),
        currency=currency,
        replay_key=replay_key,
    )


# --- measuring --------------------------------------------------------------------------


@dataclass
class Operation:
    """One row: a call timed `calls` times (after `warmup` untimed ones)."""

    name: str
    kind: str
    call: Callable[[], httpx.Response | None]
    expect: int | None = 200
    """The status every response must have (None: not an HTTP call)."""
    before: Callable[[], None] | None = None
    """Untimed, before each call (e.g. dropping a listing cache)."""
    prepare: Callable[[int], None] | None = None
    """Untimed, once, with the number of calls to come (e.g. placing orders to cancel)."""
    check: Callable[[httpx.Response], None] | None = None
    """More checks of a response than its status."""
    warmup: int = 1

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.kind)


def describe(response: httpx.Response) -> str:
    request = response.request
    body = request.content.decode(errors="replace")[:300]
    return (
        f"{request.method} {request.url} {body}\n  -> {response.status_code} {response.text[:1000]}"
    )


def time_side_by_side(operations: dict[int, Operation], calls: int) -> dict[int, list[float]]:
    """Milliseconds of each timed call of one operation at every size, the sizes taking
    turns call by call: a drift of the machine or the server over the run (a checkpoint,
    a busy neighbour) then weighs on every size alike, not on the one measured last.
    A response with another status than expected stops the benchmark."""
    first = next(iter(operations.values()))
    for operation in operations.values():
        if operation.prepare is not None:
            operation.prepare(operation.warmup + calls)
    samples: dict[int, list[float]] = {size: [] for size in operations}
    for index in range(first.warmup + calls):
        for size, operation in operations.items():
            if operation.before is not None:
                operation.before()
            started = time.perf_counter()
            response = operation.call()
            elapsed = (time.perf_counter() - started) * 1000
            if response is not None:
                if response.status_code != operation.expect:
                    raise RuntimeError(
                        f"{operation.name} ({operation.kind}, {size:,}): expected"
                        f" {operation.expect}:\n" + describe(response)
                    )
                if operation.check is not None:
                    operation.check(response)
            if index >= operation.warmup:
                samples[size].append(elapsed)
    return samples


def expect_true(condition: bool, what: str, response: httpx.Response) -> None:
    if not condition:
        raise RuntimeError(f"{what}:\n" + describe(response))


# --- the API calls ----------------------------------------------------------------------


@dataclass
class Api:
    """The probe users signed in on one running server, and what the calls leave behind."""

    http: httpx.Client
    probe: Probe
    size: int
    database: Database[Document]
    admin_token: str = ""
    buyer_token: str = ""
    registered: list[str] = field(default_factory=list)
    suspended: list[str] = field(default_factory=list)
    to_cancel: list[str] = field(default_factory=list)
    last_order: str = ""
    logout_token: str = ""
    price_flip: int = 0
    age_flip: int = 0

    def login(self, email: str) -> str:
        response = self.http.post("/auth/login", json={"email": email, "password": PASSWORD})
        if response.status_code != 200:
            raise RuntimeError("sign-in failed:\n" + describe(response))
        return str(response.json()["access_token"])

    def sign_in(self) -> None:
        self.admin_token = self.login(self.probe.admin_email)
        self.buyer_token = self.login(self.probe.buyer_email)

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def buyer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.buyer_token}"}

    # helpers with side effects, untimed or timed

    def register(self) -> httpx.Response:
        email = f"new-{unique()}@example.com"
        response = self.http.post(
            "/auth/register",
            json={"name": "Bench Newcomer", "email": email, "password": PASSWORD},
        )
        if response.status_code == 202:
            # The answer names no account (the same for a taken address): find its id.
            found = self.database.users.find_one({"email": email}, {"_id": 1})
            if found is not None:
                self.registered.append(str(found["_id"]))
        return response

    def place_order(self, key: str | None = None) -> httpx.Response:
        response = self.http.post(
            "/orders",
            json={"items": [{"product_id": self.probe.product, "quantity": 1}]},
            headers={**self.buyer(), "Idempotency-Key": key or f"order-{unique()}"},
        )
        if response.status_code == 201 and key is None:
            self.last_order = response.json()["id"]
        return response

    def transfer(self, key: str | None = None) -> httpx.Response:
        return self.http.post(
            "/transfers",
            json={
                "to_account_id": self.probe.payee_account,
                "amount": 1,
                "currency": self.probe.currency,
            },
            headers={**self.buyer(), "Idempotency-Key": key or f"transfer-{unique()}"},
        )

    def drop_product_listings(self) -> None:
        """A change of a field no listing shows: the service clears the listing cache."""
        response = self.http.patch(
            f"/products/{self.probe.product}",
            json={"description": f"cold {unique()}"},
            headers=self.admin(),
        )
        expect_true(response.status_code == 200, "PATCH /products (cold listing)", response)
        time.sleep(COLD_SETTLE_SECONDS)

    def drop_user_listings(self) -> None:
        """A change of the payee's age: the service clears the user listing cache."""
        self.age_flip += 1
        response = self.http.patch(
            f"/users/{self.probe.payee_id}",
            json={"age": 30 + self.age_flip % 2},
            headers=self.admin(),
        )
        expect_true(response.status_code == 200, "PATCH /users (cold listing)", response)
        time.sleep(COLD_SETTLE_SECONDS)

    def drop_order_listings(self) -> None:
        """A new order: the service drops everyone's cached order pages and total."""
        response = self.place_order()
        expect_true(response.status_code == 201, "POST /orders (cold listing)", response)
        time.sleep(COLD_SETTLE_SECONDS)

    def drop_outbox_size(self) -> None:
        """A registration enqueues a verification e-mail: the outbox's stream drops its size."""
        response = self.register()
        expect_true(response.status_code == 202, "POST /auth/register (cold outbox)", response)
        time.sleep(STREAM_SETTLE_SECONDS)

    def first_id(self, path: str) -> str:
        """The id of the buyer's newest item in a list: a keyset cursor."""
        response = self.http.get(path, **self.b())
        expect_true(response.status_code == 200 and response.json()["items"], path, response)
        return str(response.json()["items"][0]["id"])

    def prepare_cancels(self, count: int) -> None:
        for _ in range(count):
            response = self.place_order()
            expect_true(response.status_code == 201, "POST /orders (to cancel)", response)
            self.to_cancel.append(response.json()["id"])

    def prepare_registered(self, count: int) -> None:
        while len(self.registered) < count:
            response = self.register()
            expect_true(response.status_code == 202, "POST /auth/register (spare)", response)

    def new_logout_token(self) -> None:
        self.logout_token = self.login(self.probe.buyer_email)

    # the rows

    def cached_listings(self, kind: str) -> list[Operation]:
        """The listings the API caches, as cold (cache dropped before each call) or warm."""
        cold = kind == "listing cold"
        products = self.drop_product_listings if cold else None
        users = self.drop_user_listings if cold else None
        orders = self.drop_order_listings if cold else None
        outbox = self.drop_outbox_size if cold else None
        warmup = 0 if cold else 1
        size = self.size

        def total_at_least(minimum: int, what: str) -> Callable[[httpx.Response], None]:
            def check(response: httpx.Response) -> None:
                total = response.json()["total"]
                expect_true(total >= minimum, f"{what}: total {total} < {minimum}", response)

            return check

        def total_is(expected: int, what: str) -> Callable[[httpx.Response], None]:
            def check(response: httpx.Response) -> None:
                total = response.json()["total"]
                expect_true(total == expected, f"{what}: total {total} != {expected}", response)

            return check

        return [
            Operation(
                f"GET /products?category={BROAD_CATEGORY}",
                kind,
                lambda: self.http.get("/products", params={"category": BROAD_CATEGORY}),
                before=products,
                warmup=warmup,
                check=total_at_least(size // len(CATEGORIES), "category listing"),
            ),
            Operation(
                f"GET /products?q={COMMON_PRODUCT_WORD}",
                kind,
                lambda: self.http.get("/products", params={"q": COMMON_PRODUCT_WORD}),
                before=products,
                warmup=warmup,
                check=total_at_least(size, "common-word search"),
            ),
            Operation(
                f"GET /products?q={RARE_PRODUCT_WORD}",
                kind,
                lambda: self.http.get("/products", params={"q": RARE_PRODUCT_WORD}),
                before=products,
                warmup=warmup,
                check=total_is(1, "rare-word search"),
            ),
            Operation(
                "GET /users (admin)",
                kind,
                lambda: self.http.get("/users", headers=self.admin()),
                before=users,
                warmup=warmup,
                check=total_at_least(size, "user list"),
            ),
            Operation(
                f"GET /users?q={COMMON_USER_WORD} (admin)",
                kind,
                lambda: self.http.get(
                    "/users", params={"q": COMMON_USER_WORD}, headers=self.admin()
                ),
                before=users,
                warmup=warmup,
                check=total_at_least(size, "common-word user search"),
            ),
            Operation(
                f"GET /users?q={RARE_USER_WORD} (admin)",
                kind,
                lambda: self.http.get("/users", params={"q": RARE_USER_WORD}, headers=self.admin()),
                before=users,
                warmup=warmup,
                check=total_is(1, "rare-word user search"),
            ),
            Operation(
                "GET /orders (admin: everyone's)",
                kind,
                lambda: self.http.get("/orders", headers=self.admin()),
                before=orders,
                warmup=warmup,
                check=total_at_least(size, "everyone's orders"),
            ),
            Operation(
                "GET /admin/outbox/stats",
                kind,
                lambda: self.http.get("/admin/outbox/stats", headers=self.admin()),
                before=outbox,
                warmup=warmup,
            ),
            Operation(
                "GET /metrics",
                kind,
                lambda: self.http.get("/metrics"),
                before=outbox,
                warmup=warmup,
            ),
        ]

    def points(self) -> list[Operation]:
        p = self.probe

        def replayed(response: httpx.Response) -> None:
            expect_true(
                response.headers.get("Idempotent-Replay") == "true", "not replayed", response
            )

        ages = itertools.count()

        def next_price() -> int:
            self.price_flip += 1
            return 100 + self.price_flip % 2

        def suspend() -> httpx.Response:
            user_id = self.registered.pop()
            self.suspended.append(user_id)
            return self.http.post(f"/users/{user_id}/suspend", headers=self.admin())

        def reactivate() -> httpx.Response:
            return self.http.post(
                "/users/bulk-status",
                json={"ids": [self.suspended.pop()], "status": "active"},
                headers=self.admin(),
            )

        return [
            Operation("GET /health", "point", lambda: self.http.get("/health")),
            Operation(
                "POST /auth/login",
                "point",
                lambda: self.http.post(
                    "/auth/login", json={"email": p.buyer_email, "password": PASSWORD}
                ),
            ),
            Operation("POST /auth/register", "point", self.register, expect=202),
            Operation(
                "POST /auth/logout",
                "point",
                lambda: self.http.post(
                    "/auth/logout", headers={"Authorization": f"Bearer {self.logout_token}"}
                ),
                expect=204,
                before=self.new_logout_token,
            ),
            Operation("GET /users/me", "point", lambda: self.http.get("/users/me", **self.b())),
            Operation(
                "GET /users/{id} (admin)",
                "point",
                lambda: self.http.get(f"/users/{p.buyer_id}", headers=self.admin()),
            ),
            Operation(
                "PATCH /users/{id} (self)",
                "point",
                lambda: self.http.patch(
                    f"/users/{p.buyer_id}", json={"age": 40 + next(ages) % 2}, **self.b()
                ),
            ),
            Operation(
                "POST /users/{id}/suspend (admin)",
                "point",
                suspend,
                prepare=self.prepare_registered,
            ),
            Operation("POST /users/bulk-status (admin, 1 id)", "point", reactivate),
            Operation(
                "GET /products/{id}", "point", lambda: self.http.get(f"/products/{p.product}")
            ),
            Operation(
                "POST /products (admin)",
                "point",
                lambda: self.http.post(
                    "/products",
                    json={
                        "name": f"Bench gadget {unique()}",
                        "category": NEW_CATEGORY,
                        "price": {"amount": 250, "currency": p.currency},
                        "inventory": {"quantity": 5},
                    },
                    headers=self.admin(),
                ),
                expect=201,
            ),
            Operation(
                "PATCH /products/{id} (admin)",
                "point",
                lambda: self.http.patch(
                    f"/products/{p.product}",
                    json={"description": f"updated {unique()}"},
                    headers=self.admin(),
                ),
            ),
            Operation(
                "POST /products/{id}/inventory (admin)",
                "point",
                lambda: self.http.post(
                    f"/products/{p.product}/inventory", json={"change": 1}, headers=self.admin()
                ),
            ),
            Operation(
                "POST /products/bulk-prices (admin, 1 item)",
                "point",
                lambda: self.http.post(
                    "/products/bulk-prices",
                    json=[
                        {
                            "product_id": p.product,
                            "new_price": {"amount": next_price(), "currency": p.currency},
                        }
                    ],
                    headers=self.admin(),
                ),
            ),
            Operation(
                "GET /accounts/me", "point", lambda: self.http.get("/accounts/me", **self.b())
            ),
            Operation(
                "POST /accounts/{id}/credit (admin)",
                "point",
                lambda: self.http.post(
                    f"/accounts/{p.payee_account}/credit",
                    json={"amount": 1, "currency": p.currency, "reason": "bench credit"},
                    headers=self.admin(),
                ),
            ),
            Operation("POST /transfers", "point", self.transfer, expect=201),
            Operation(
                "POST /transfers (replay)",
                "point",
                lambda: self.transfer(p.replay_key),
                expect=201,
                check=replayed,
            ),
            Operation("POST /orders", "point", self.place_order, expect=201),
            Operation(
                "POST /orders (replay)",
                "point",
                lambda: self.place_order(p.replay_key),
                expect=201,
                check=replayed,
            ),
            Operation(
                "GET /orders/{id}",
                "point",
                lambda: self.http.get(f"/orders/{self.last_order}", **self.b()),
            ),
            Operation(
                "POST /orders/{id}/cancel",
                "point",
                lambda: self.http.post(f"/orders/{self.to_cancel.pop()}/cancel", **self.b()),
                prepare=self.prepare_cancels,
            ),
        ]

    def listings(self) -> list[Operation]:
        """Uncached pages whose cost should follow the page: repeated identical calls."""
        week_ago = (utcnow() - timedelta(days=7)).isoformat()
        now = utcnow().isoformat()
        own_order = self.first_id("/orders")
        own_entry = self.first_id("/accounts/me/ledger")
        (middle,) = self.database.orders.find(
            {}, {"_id": 1}, sort=NEWEST_FIRST, skip=self.size // 2, limit=1
        ).to_list()
        halfway = str(middle["_id"])
        return [
            Operation("GET /orders (own)", "listing", lambda: self.http.get("/orders", **self.b())),
            Operation(
                "GET /accounts/me/ledger",
                "listing",
                lambda: self.http.get("/accounts/me/ledger", **self.b()),
            ),
            Operation(
                "GET /admin/orders/recent",
                "listing",
                lambda: self.http.get("/admin/orders/recent", headers=self.admin()),
            ),
            Operation(
                f"GET /users/search/{RARE_USER_WORD} (admin)",
                "listing",
                lambda: self.http.get(f"/users/search/{RARE_USER_WORD}", headers=self.admin()),
            ),
            Operation(
                "GET /admin/analytics/sales (last 7 days)",
                "listing",
                lambda: self.http.get(
                    "/admin/analytics/sales",
                    params={"start": week_ago, "end": now},
                    headers=self.admin(),
                ),
            ),
            Operation(
                "GET /orders?after= (own, after the first)",
                "listing",
                lambda: self.http.get("/orders", params={"after": own_order}, **self.b()),
            ),
            Operation(
                "GET /accounts/me/ledger?after= (after the first)",
                "listing",
                lambda: self.http.get(
                    "/accounts/me/ledger", params={"after": own_entry}, **self.b()
                ),
            ),
            Operation(
                "GET /orders?after= (admin: everyone's, halfway down)",
                "listing",
                lambda: self.http.get("/orders", params={"after": halfway}, headers=self.admin()),
            ),
        ]

    def dashboards(self) -> list[Operation]:
        return [
            Operation(
                "GET /admin/stats/users",
                "dashboard",
                lambda: self.http.get("/admin/stats/users", headers=self.admin()),
            ),
            Operation(
                "GET /admin/stats/products",
                "dashboard",
                lambda: self.http.get("/admin/stats/products", headers=self.admin()),
            ),
            Operation("GET /admin (page)", "point", lambda: self.http.get("/admin")),
        ]

    def b(self) -> dict[str, Any]:
        """The buyer's credentials, as keyword arguments of an httpx call."""
        return {"headers": self.buyer()}


def raw_operations(database: Database[Document], probe: Probe) -> list[Operation]:
    """What some API rows do, minus the API: raw PyMongo on the same server."""
    product = ObjectId(probe.product)
    buyer = ObjectId(probe.buyer_id)
    account = ObjectId(probe.payee_account)
    flip = itertools.count()

    def ensure(condition: bool, what: str) -> None:
        if not condition:
            raise RuntimeError(f"raw PyMongo: {what}")

    def find_product() -> None:
        ensure(database.products.find_one({"_id": product}) is not None, "no probe product")

    def find_user() -> None:
        ensure(database.users.find_one({"_id": buyer}) is not None, "no probe buyer")

    def guarded_update() -> None:
        # +1 then -1, each with its guard in the filter, as credit and debit do.
        amount = 1 if next(flip) % 2 == 0 else -1
        guard = {"$lte": MAX_AMOUNT - 1} if amount > 0 else {"$gte": 1}
        result = database.accounts.update_one(
            {"_id": account, "currency": probe.currency, "balance": guard},
            {"$inc": {"balance": amount}, "$set": {"updated_at": utcnow()}},
        )
        ensure(result.modified_count == 1, "the guarded update matched nothing")

    def category_page() -> None:
        pipeline: list[Document] = [
            {"$match": {"category": BROAD_CATEGORY}},
            {"$sort": {"created_at": -1, "_id": -1}},
            {"$facet": {"items": [{"$limit": 20}], "total": [{"$count": "n"}]}},
        ]
        (result,) = database.products.aggregate(pipeline).to_list()
        ensure(len(result["items"]) == 20, "a short category page")

    return [
        Operation("products.find_one({_id})", "raw point", find_product, expect=None),
        Operation("users.find_one({_id})", "raw point", find_user, expect=None),
        Operation(
            "accounts.update_one({_id, balance guard}, $inc)",
            "raw point",
            guarded_update,
            expect=None,
        ),
        Operation(
            f"products.aggregate(category={BROAD_CATEGORY}, sort, $facet page+count)",
            "raw listing",
            category_page,
            expect=None,
        ),
    ]


def restore_payee_balance(database: Database[Document], probe: Probe, calls: int) -> None:
    """Undo the raw +1/-1 updates' odd one out, so the payee's balance matches its ledger."""
    if (calls + 1) % 2:
        database.accounts.update_one(
            {"_id": ObjectId(probe.payee_account)}, {"$inc": {"balance": -1}}
        )


# --- the server -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(
    uri: str,
    workdir: Path,
    size: int,
    currency: str,
    *,
    worker: bool = True,
    database: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[str]:
    """`mongoshop serve` on `uri` for the shop of `size` (no demo data; with its worker, as
    users run it, unless `worker` is False), until SIGTERM; its base URL."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MONGOSHOP_", "MONGODB_"))
    }
    env |= {
        # Without MONGODB_URI serve would start its own embedded server (with demo data).
        "MONGODB_URI": uri,
        "MONGODB_DATABASE": database or DATABASE.format(size=size),
        "MONGOSHOP_DATA_DIR": str(workdir),
        "MONGOSHOP_CURRENCY": currency,
        "MONGOSHOP_LOGIN_MAX_FAILURES": "1000",
        "MONGOSHOP_LOGIN_MAX_FAILURES_PER_CLIENT": "10000",
        "MONGOSHOP_REGISTER_MAX_PER_CLIENT": "10000",
        # A cold broad listing at 100,000 documents costs more than the 5 s request
        # deadline on the embedded server (it would answer 503): measure its real cost.
        "MONGOSHOP_OPERATION_TIMEOUT_SECONDS": "300",
        "MONGOSHOP_LOG_LEVEL": "WARNING",
        "MONGOSHOP_SOCKET_TIMEOUT_MS": "300000",
    } | (extra_env or {})
    log_path = workdir / f"serve-{size}.log"
    command = [
        str(Path(sys.executable).with_name("mongoshop")),
        "serve",
        "--no-demo",
        *([] if worker else ["--no-worker"]),
        "--no-access-log",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    base = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        # cwd: the work directory, so no .env of the caller's directory is read.
        process = subprocess.Popen(
            command, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"mongoshop serve exited with {process.returncode}:\n"
                    + log_path.read_text()[-3000:]
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "mongoshop serve did not answer /health:\n" + log_path.read_text()[-3000:]
                )
            time.sleep(0.3)
        yield base
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


# --- reporting --------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    kind: str
    expect: int | None
    samples: dict[int, list[float]] = field(default_factory=dict)

    def median(self, size: int) -> float:
        return statistics.median(self.samples[size])


def size_table(size: int, rows: list[Row]) -> Table:
    table = Table(title=f"growth: {size:,} users and products")
    for column in ("operation", "kind", "median ms", "p25-p75 ms", "calls"):
        table.add_column(column, justify="left" if column in ("operation", "kind") else "right")
    for row in rows:
        samples = row.samples[size]
        quartiles = statistics.quantiles(samples, n=4) if len(samples) > 1 else samples * 3
        table.add_row(
            row.name,
            row.kind,
            f"{row.median(size):.2f}",
            f"{quartiles[0]:.2f}-{quartiles[2]:.2f}",
            str(len(samples)),
        )
    return table


def final_table(sizes: list[int], rows: list[Row]) -> tuple[Table, list[dict[str, Any]]]:
    small, large = sizes[0], sizes[-1]
    table = Table(title=f"growth: {small:,} -> {large:,} users and products (median ms)")
    table.add_column("operation")
    table.add_column("kind")
    for size in sizes:
        table.add_column(f"{size:,}", justify="right")
    for column in ("growth", "target", "met?"):
        table.add_column(column, justify="right")
    cases = []
    order = list(TARGETS)
    for row in sorted(rows, key=lambda row: order.index(row.kind)):
        medians = [row.median(size) for size in sizes]
        growth = medians[-1] / medians[0] if medians[0] else float("inf")
        target = TARGETS[row.kind] if len(sizes) > 1 else None
        met = None if target is None else growth <= target
        table.add_row(
            row.name,
            row.kind,
            *(f"{median:.2f}" for median in medians),
            f"{growth:.2f}x" if len(sizes) > 1 else "-",
            f"{target:.1f}x" if target is not None else "-",
            "-" if met is None else ("yes" if met else "[bold red]NO[/bold red]"),
        )
        cases.append(
            {
                "benchmark": "growth",
                "operation": row.name,
                "kind": row.kind,
                "expected_status": row.expect,
                "sizes": sizes,
                "median_ms": {str(size): row.median(size) for size in sizes},
                "samples_ms": {str(size): row.samples[size] for size in sizes},
                "growth": growth if len(sizes) > 1 else None,
                "target": target,
                "met": met,
            }
        )
    return table, cases


def summary(cases: list[dict[str, Any]]) -> str:
    lines = []
    for kind in ("point", "listing", "listing warm"):
        judged = [case for case in cases if case["kind"] == kind and case["met"] is not None]
        if judged:
            missed = [case["operation"] for case in judged if not case["met"]]
            line = f"{kind}: {len(judged) - len(missed)}/{len(judged)} within {TARGETS[kind]}x"
            lines.append(line + (f" (missed: {', '.join(missed)})" if missed else ""))
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------


@dataclass
class SizedShop:
    """One size's shop: its database and probe documents."""

    size: int
    database: Database[Document]
    probe: Probe


def measure(
    uri: str,
    shops: list[SizedShop],
    calls: int,
    workdir: Path,
    rows: dict[tuple[str, str], Row],
    *,
    worker: bool = True,
) -> None:
    """Every operation at every size, the sizes side by side, into `rows`."""

    def record(build: Callable[[Any], list[Operation]], targets: dict[int, Any]) -> None:
        lists = {size: build(target) for size, target in targets.items()}
        for operations in zip(*lists.values(), strict=True):
            by_size = dict(zip(lists, operations, strict=True))
            samples = time_side_by_side(by_size, calls)
            first = operations[0]
            row = rows.setdefault(first.key, Row(first.name, first.kind, first.expect))
            row.samples.update(samples)

    with contextlib.ExitStack() as stack:
        apis: dict[int, Api] = {}
        for shop in shops:
            base = stack.enter_context(
                serving(uri, workdir, shop.size, shop.probe.currency, worker=worker)
            )
            http = stack.enter_context(httpx.Client(base_url=base, timeout=600))
            if shop.database.users.find_one({"email": DEMO_ADMIN_EMAIL}) is not None:
                raise RuntimeError("mongoshop serve seeded demo data into the benchmark database")
            apis[shop.size] = Api(http, shop.probe, shop.size, shop.database)
            apis[shop.size].sign_in()
            console.print(f"  {shop.size:,}: {base} up")
        console.print("  cold listings...")
        record(lambda api: api.cached_listings("listing cold"), apis)
        console.print("  point operations...")
        record(Api.points, apis)
        console.print("  listings and dashboards...")
        record(Api.listings, apis)
        record(Api.dashboards, apis)
        time.sleep(SETTLE_SECONDS)
        console.print("  warm listings...")
        record(lambda api: api.cached_listings("listing warm"), apis)
    console.print("  raw PyMongo...")
    record(lambda shop: raw_operations(shop.database, shop.probe), {s.size: s for s in shops})
    for shop in shops:
        restore_payee_balance(shop.database, shop.probe, calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[1_000, 100_000],
        help="Users and products (and orders, ledger entries...) at each step",
    )
    parser.add_argument("--calls", type=int, default=15, help="Timed calls per operation")
    parser.add_argument(
        "--no-worker",
        action="store_true",
        help="serve without its event worker (by default it runs, as users run it)",
    )
    parser.add_argument(
        "--traced",
        action="store_true",
        help="tracing on in the servers, every trace kept, exported to a sink here",
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        exports = stack.enter_context(everything_traced()) if args.traced else []
        run(parser, args)
        if args.traced:
            console.print(f"{len(exports)} OTLP exports received, {sum(exports):,} bytes")


def run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    sizes: list[int] = sorted(set(args.sizes))
    if args.calls < 1 or sizes[0] < len(CATEGORIES) * 20:
        parser.error(f"--calls must be at least 1 and every size at least {len(CATEGORIES) * 20}")
    rows: dict[tuple[str, str], Row] = {}
    with embedded_server() as uri, tempfile.TemporaryDirectory(prefix="bench-growth-") as tmp:
        workdir = Path(tmp)
        client: MongoClient[Document] = MongoClient(uri, tz_aware=True)
        try:
            hasher = PasswordHasher()
            password_hash = hasher.hash(PASSWORD)
            shops = []
            for size in sizes:
                name = DATABASE.format(size=size)
                database = client[name]
                shop = Shop(
                    database, Settings(mongodb_uri=uri, mongodb_database=name), hasher=hasher
                )
                shop.ensure_indexes()
                probe = create_probe(shop)
                started = time.perf_counter()
                fill(database, 0, size, password_hash, probe.currency)
                console.print(
                    f"[bold]{size:,}[/bold] users and products (and as many accounts, orders,"
                    f" ledger entries, transfers, e-mails): filled in"
                    f" {time.perf_counter() - started:.1f} s"
                )
                shops.append(SizedShop(size, database, probe))
            measure(uri, shops, args.calls, workdir, rows, worker=not args.no_worker)
            for size in sizes:
                TABLES.print(size_table(size, list(rows.values())))
        finally:
            client.close()
    table, cases = final_table(sizes, list(rows.values()))
    TABLES.print(table)
    TABLES.print(summary(cases))
    save("growth", cases)


if __name__ == "__main__":
    main()
