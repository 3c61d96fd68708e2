"""A chaos soak: a mixed workload while the API and the worker are SIGKILLed and restarted
and the database is frozen (SIGSTOP) and thawed; then every invariant is checked.

Several client threads register and confirm users, place and cancel orders, transfer
money, and (as the admin) credit wallets, restock products and change prices, for
`--soak-seconds` (20 by default, for the suite; more by the flag). Meanwhile a flash
sale: more clients buy one product as fast as they are answered, until it sells out
(and after: "out of stock" is an answer too). A controller
meanwhile picks at random: SIGKILL the API and start it again, SIGKILL the worker and
start it again, or freeze the database for a moment. At the end, with everything
running again and the outbox drained, the database must show:

- money conserved: the sum of balances is the sum of admin credits less the totals of
  the orders still standing (cancelled ones were refunded);
- every balance equal to its ledger, no negative balance, no negative stock;
- each product's stock equal to its initial stock, plus the restocks, less the units of
  its standing orders (a restock whose answer was lost in a kill may or may not have
  been applied: the difference must be made of such restocks, exactly);
- every order whole: its debit in the ledger, and its refund if cancelled;
- every confirmed user with exactly one welcome e-mail;
- every request answered 2xx durable (the account, the confirmation, the order, the
  cancellation, the transfer are there);
- no 5xx but 503 (the answers while the database is frozen or the API restarting).

The counts (requests, kills, freezes, 503s) are printed, so the strength of a run shows.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from mongoshop.db import EmbeddedServer
from mongoshop.models.common import Document
from mongoshop.worker.event_streams import ORDERS_STREAM, USERS_STREAM
from tests.e2e.support import AppProcess, app_environment, verification_code
from tests.integration.worker.conftest import WorkerProcess

THREADS = 4
ADMIN_EMAIL = "soak-admin@example.com"
ADMIN_PASSWORD = f"soak-admin-{uuid.uuid4().hex}"
PASSWORD = "soak-password-1"
PRODUCTS = 6
INITIAL_STOCK = 500
FLASH_BUYERS = 8
FLASH_STOCK = 150
SEED = 20261127


@dataclass
class Ledger:
    """What the clients saw: every answer, and what each 2xx promised."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[int] = field(default_factory=Counter)
    no_answer: int = 0
    registered: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    transfers: list[str] = field(default_factory=list)
    restocked: Counter[str] = field(default_factory=Counter)
    """Units added by restocks answered 200, per product."""
    uncertain_restocks: dict[str, list[int]] = field(default_factory=dict)
    """Restocks with no answer (killed mid-request): applied or not, per product."""
    server_errors: list[str] = field(default_factory=list)
    flash_orders: int = 0

    def answer(self, response: httpx.Response) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
            if response.status_code >= 500 and response.status_code != 503:
                self.server_errors.append(
                    f"{response.request.method} {response.request.url.path}: "
                    f"{response.status_code} {response.text[:300]}"
                )


class Shop:
    """The running system: database, API and worker, each of which the controller hits."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.server = EmbeddedServer(workdir / "db")
        self.database = f"soak_{uuid.uuid4().hex[:12]}"
        self.app: AppProcess | None = None
        self.worker: WorkerProcess | None = None
        self.base_url = ""
        self.frozen = threading.Event()

    def start(self) -> None:
        self.server.start()
        env = app_environment(
            mongodb_uri=self.server.uri,
            database=self.database,
            data_dir=self.workdir / "data",
            extra={
                "MONGOSHOP_ADMIN_EMAIL": ADMIN_EMAIL,
                "MONGOSHOP_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "MONGOSHOP_LOGIN_MAX_FAILURES_PER_CLIENT": "10000",
                "MONGOSHOP_SERVER_SELECTION_TIMEOUT_MS": "2000",
                "MONGOSHOP_OPERATION_TIMEOUT_SECONDS": "3",
                "MONGOSHOP_MAIL_RETRY_BASE_SECONDS": "0.2",
                # A killed worker's claimed e-mail waits out its lease before another
                # sender takes it: short here, so the soak's final drain is quick.
                "MONGOSHOP_SMTP_TIMEOUT_SECONDS": "2",
                "MONGOSHOP_MAIL_LEASE_SECONDS": "5",
            },
        )
        self.app = AppProcess(env, self.workdir, ["--no-worker"])
        self.base_url = self.app.start()
        self.worker = WorkerProcess(env, self.workdir / "worker.log")
        self.worker.start()
        # A worker's very first streams start at "now": let it open them before the load.
        with MongoClient(self.server.uri) as mongo:
            checkpoints = mongo[self.database].checkpoints
            deadline = time.monotonic() + 30
            while checkpoints.count_documents({"_id": {"$in": [USERS_STREAM, ORDERS_STREAM]}}) < 2:
                assert time.monotonic() < deadline, "the worker never opened its streams"
                time.sleep(0.1)

    def restart_app(self) -> None:
        assert self.app is not None
        self.app.kill()
        self.base_url = self.app.start()

    def restart_worker(self) -> None:
        assert self.worker is not None
        self.worker.kill()
        self.worker.start()

    def freeze(self, seconds: float) -> None:
        assert self.server.process is not None
        os.kill(self.server.process.pid, signal.SIGSTOP)
        self.frozen.set()
        try:
            time.sleep(seconds)
        finally:
            os.kill(self.server.process.pid, signal.SIGCONT)
            self.frozen.clear()

    def close(self) -> None:
        if self.server.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.server.process.pid, signal.SIGCONT)
        if self.worker is not None:
            self.worker.terminate()
        if self.app is not None:
            self.app.stop()
        self.server.stop()


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    system = Shop(tmp_path)
    try:
        system.start()
        yield system
    finally:
        system.close()


class Client:
    """One client thread's view: it follows the API wherever it restarts."""

    def __init__(self, shop: Shop, ledger: Ledger, rng: random.Random) -> None:
        self.shop = shop
        self.ledger = ledger
        self.rng = rng

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        try:
            with httpx.Client(base_url=self.shop.base_url, timeout=15.0) as http:
                response = http.request(method, path, **kwargs)
        except httpx.HTTPError:
            with self.ledger.lock:
                self.ledger.no_answer += 1
            time.sleep(0.2)  # the API is restarting: no point hammering a closed port
            return None
        self.ledger.answer(response)
        return response

    def token(self, email: str, password: str) -> str | None:
        response = self.call("POST", "/auth/login", json={"email": email, "password": password})
        if response is None or response.status_code != 200:
            return None
        return str(response.json()["access_token"])


def outbox_code(database: Any, mail_dir: Path, email: str, deadline: float) -> str | None:
    """The latest code mailed to `email`: in the outbox until sent, then in its .eml."""
    while time.monotonic() < deadline:
        found = database.mail_outbox.find_one(
            {"kind": "verify_email", "to": email}, sort=[("created_at", -1)]
        )
        code = verification_code(found, mail_dir)
        if code is not None:
            return code
        time.sleep(0.05)
    return None


def test_a_mixed_workload_under_kills_and_freezes_keeps_every_invariant(
    shop: Shop, soak_seconds: float, capsys: pytest.CaptureFixture[str]
) -> None:
    mongo: MongoClient[Document] = MongoClient(shop.server.uri, tz_aware=True)
    database = mongo[shop.database]
    ledger = Ledger()
    rng = random.Random(SEED)
    setup = Client(shop, ledger, rng)

    admin = setup.token(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert admin is not None
    admin_headers = {"Authorization": f"Bearer {admin}"}
    products = []
    for n in range(PRODUCTS):
        created = setup.call(
            "POST",
            "/products",
            json={
                "name": f"Soak item {n}",
                "category": "soak",
                "price": {"amount": 100 + n * 25, "currency": "EUR"},
                "inventory": {"quantity": INITIAL_STOCK},
            },
            headers=admin_headers,
        )
        assert created is not None
        assert created.status_code == 201
        products.append(created.json()["id"])
    flash = setup.call(
        "POST",
        "/products",
        json={
            "name": "Soak flash item",
            "category": "soak",
            "price": {"amount": 90, "currency": "EUR"},
            "inventory": {"quantity": FLASH_STOCK},
        },
        headers=admin_headers,
    )
    assert flash is not None
    assert flash.status_code == 201
    hot = flash.json()["id"]
    counter = itertools.count()
    stop = threading.Event()

    def customer(client: Client) -> tuple[str, str, str] | None:
        """Register, confirm, sign in and fund a new customer: (token, account, email)."""
        email = f"soak-{next(counter)}-{uuid.uuid4().hex[:6]}@example.com"
        registered = client.call(
            "POST",
            "/auth/register",
            json={"name": "Soak Person", "email": email, "password": PASSWORD},
        )
        if registered is None or registered.status_code != 202:
            return None
        with ledger.lock:
            ledger.registered.append(email)
        code = outbox_code(database, shop.workdir / "data" / "mail", email, time.monotonic() + 10)
        if code is None:
            return None
        verified = client.call("POST", "/auth/verify", json={"token": code})
        if verified is None or verified.status_code != 200:
            return None
        with ledger.lock:
            ledger.verified.append(email)
        token = client.token(email, PASSWORD)
        wallet = client.call("GET", "/accounts/me", headers={"Authorization": f"Bearer {token}"})
        if token is None or wallet is None or wallet.status_code != 200:
            return None
        account = str(wallet.json()["id"])
        client.call(
            "POST",
            f"/accounts/{account}/credit",
            json={"amount": 50_000, "currency": "EUR", "reason": "soak funds"},
            headers=admin_headers,
        )
        return token, account, email

    def work(seed: int) -> None:
        client = Client(shop, ledger, random.Random(seed))
        me: tuple[str, str, str] | None = None
        accounts: list[str] = []
        mine: list[str] = []
        while not stop.is_set():
            if me is None:
                me = customer(client)
                if me is not None:
                    accounts.append(me[1])
                continue
            headers = {"Authorization": f"Bearer {me[0]}"}
            action = client.rng.choice(
                ["order", "order", "cancel", "transfer", "credit", "restock", "price", "join"]
            )
            if action == "order":
                response = client.call(
                    "POST",
                    "/orders",
                    json={
                        "items": [
                            {
                                "product_id": client.rng.choice(products),
                                "quantity": client.rng.randint(1, 2),
                            }
                        ]
                    },
                    headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
                )
                if response is not None and response.status_code == 201:
                    with ledger.lock:
                        ledger.orders.append(response.json()["id"])
                    mine.append(response.json()["id"])
            elif action == "cancel" and mine:
                order = mine.pop(client.rng.randrange(len(mine)))
                response = client.call("POST", f"/orders/{order}/cancel", headers=headers)
                if response is not None and response.status_code == 200:
                    with ledger.lock:
                        ledger.cancelled.append(order)
            elif action == "transfer":
                with ledger.lock:
                    targets = [a for a in ledger_accounts if a != me[1]]
                if targets:
                    response = client.call(
                        "POST",
                        "/transfers",
                        json={
                            "to_account_id": client.rng.choice(targets),
                            "amount": client.rng.randint(1, 300),
                            "currency": "EUR",
                        },
                        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
                    )
                    if response is not None and response.status_code == 201:
                        with ledger.lock:
                            ledger.transfers.append(response.json()["id"])
            elif action == "credit":
                client.call(
                    "POST",
                    f"/accounts/{me[1]}/credit",
                    json={
                        "amount": client.rng.randint(1, 500),
                        "currency": "EUR",
                        "reason": "soak top-up",
                    },
                    headers=admin_headers,
                )
            elif action == "restock":
                product = client.rng.choice(products)
                units = client.rng.randint(1, 9)
                response = client.call(
                    "POST",
                    f"/products/{product}/inventory",
                    json={"change": units},
                    headers=admin_headers,
                )
                with ledger.lock:
                    if response is None:
                        ledger.uncertain_restocks.setdefault(product, []).append(units)
                    elif response.status_code == 200:
                        ledger.restocked[product] += units
                    elif response.status_code == 503:
                        ledger.uncertain_restocks.setdefault(product, []).append(units)
            elif action == "price":
                client.call(
                    "PATCH",
                    f"/products/{client.rng.choice(products)}",
                    json={"price": {"amount": client.rng.randint(50, 400), "currency": "EUR"}},
                    headers=admin_headers,
                )
            elif action == "join":
                me = None  # a new customer on this thread (registration, confirmation)
            with ledger.lock:
                if me is not None and me[1] not in ledger_accounts:
                    ledger_accounts.append(me[1])

    sold_out = Counter[str]()

    def flash_buyer(seed: int, me: tuple[str, str, str]) -> None:
        """One buyer of the flash sale: the same product again and again."""
        client = Client(shop, ledger, random.Random(seed))
        while not stop.is_set():
            response = client.call(
                "POST",
                "/orders",
                json={"items": [{"product_id": hot, "quantity": 1}]},
                headers={"Authorization": f"Bearer {me[0]}", "Idempotency-Key": uuid.uuid4().hex},
            )
            if response is not None and response.status_code == 201:
                with ledger.lock:
                    ledger.orders.append(response.json()["id"])
                    ledger.flash_orders += 1
            elif response is not None and response.status_code == 409:
                sold_out[response.json()["error"]] += 1
                time.sleep(0.1)

    ledger_accounts: list[str] = []
    kills = Counter[str]()

    def chaos() -> None:
        """Kill the API, kill the worker, freeze the database: each kind once in every
        three actions (in a shuffled order), so even a short or slow soak has them all."""
        chaos_rng = random.Random(SEED + 1)
        kinds: list[str] = []
        while not stop.wait(chaos_rng.uniform(1.5, 3.5)):
            if not kinds:
                kinds = ["api", "worker", "freeze"]
                chaos_rng.shuffle(kinds)
            what = kinds.pop()
            if what == "api":
                shop.restart_app()
            elif what == "worker":
                shop.restart_worker()
            else:
                shop.freeze(chaos_rng.uniform(0.5, 2.0))
            kills[what] += 1

    # The flash sale's buyers sign up before the chaos starts (the other clients sign up
    # during it): under the chaos, their orders are the point.
    def flash_customer(n: int) -> tuple[str, str, str] | None:
        # All of them at once make a burst of password hashes: some may be told 503 (the
        # hashes are queued, the queue is bounded). A client tries again, as here.
        for attempt in range(5):
            me = customer(Client(shop, ledger, random.Random(n * 10 + attempt)))
            if me is not None:
                return me
            time.sleep(1)
        return None

    with ThreadPoolExecutor(FLASH_BUYERS) as pool:
        buyers = list(pool.map(flash_customer, range(FLASH_BUYERS)))
    assert all(buyers), "a flash-sale buyer could not sign up before the chaos"
    threads = [threading.Thread(target=work, args=(SEED + n,)) for n in range(THREADS)]
    threads += [
        threading.Thread(target=flash_buyer, args=(SEED + 100 + n, me))
        for n, me in enumerate(buyers)
        if me is not None
    ]
    controller = threading.Thread(target=chaos)
    for thread in [*threads, controller]:
        thread.start()
    time.sleep(soak_seconds)
    # A slow machine may not have had time for every kind of chaos yet: go on until it has.
    deadline = time.monotonic() + 60
    while min(kills[what] for what in ("api", "worker", "freeze")) == 0:
        assert time.monotonic() < deadline, f"the chaos never got round to every kind: {kills}"
        time.sleep(0.5)
    stop.set()
    for thread in [controller, *threads]:
        thread.join(120)
        assert not thread.is_alive(), "a soak thread did not stop"

    # Everything running again: the worker catches up with the confirmations (welcomes
    # enqueued) and drains the outbox.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (
        database.mail_outbox.count_documents({"status": "pending"})
        or database.mail_outbox.count_documents({"kind": "welcome"})
        < database.users.count_documents({"email_verified": True, "email": {"$ne": ADMIN_EMAIL}})
    ):
        time.sleep(0.25)

    with capsys.disabled():
        print(
            f"\nsoak: {soak_seconds:.0f} s, {sum(ledger.statuses.values())} answers "
            f"{dict(sorted(ledger.statuses.items()))}, {ledger.no_answer} without an answer; "
            f"API killed {kills['api']}x, worker killed {kills['worker']}x, database frozen "
            f"{kills['freeze']}x; {len(ledger.verified)} users confirmed, "
            f"{len(ledger.orders)} orders ({ledger.flash_orders} of the flash sale, then "
            f"{sum(sold_out.values())} answered {dict(sold_out)}), "
            f"{len(ledger.cancelled)} cancellations, {len(ledger.transfers)} transfers"
        )
    try:
        check_invariants(
            database, ledger, {**dict.fromkeys(products, INITIAL_STOCK), hot: FLASH_STOCK}
        )
    finally:
        mongo.close()
    assert min(kills[what] for what in ("api", "worker", "freeze")) > 0, f"too mild: {kills}"
    assert ledger.orders, "no order went through: the soak tested nothing"
    assert ledger.flash_orders, "no flash-sale order went through"
    assert set(sold_out) <= {"out_of_stock"}, sold_out


def check_invariants(database: Any, ledger: Ledger, initial_stock: dict[str, int]) -> None:
    """`initial_stock`: each product's stock when the soak began."""
    from bson import ObjectId

    assert ledger.server_errors == [], ledger.server_errors[:5]
    assert database.mail_outbox.count_documents({"status": {"$ne": "sent"}}) == 0

    accounts = list(database.accounts.find({}))
    entries = list(database.ledger.find({}))
    by_account = Counter[Any]()
    for entry in entries:
        by_account[entry["account_id"]] += entry["amount"]
    for account in accounts:
        assert account["balance"] >= 0, account
        assert account["balance"] == by_account[account["_id"]], account
    credits = sum(e["amount"] for e in entries if e["kind"] == "credit")
    orders = list(database.orders.find({}))
    standing = [order for order in orders if order["status"] == "completed"]
    assert sum(a["balance"] for a in accounts) == credits - sum(
        order["total"]["amount"] for order in standing
    ), "money was created or lost"

    kinds_by_reference: dict[Any, Counter[str]] = {}
    for entry in entries:
        if entry.get("reference_id") is not None:
            kinds_by_reference.setdefault(entry["reference_id"], Counter())[entry["kind"]] += 1
    for order in orders:
        kinds = kinds_by_reference.get(order["_id"], Counter())
        assert kinds["order"] == 1, order
        assert kinds["refund"] == (1 if order["status"] == "cancelled" else 0), order

    sold = Counter[str]()
    for order in standing:
        for item in order["items"]:
            sold[str(item["product_id"])] += item["quantity"]
    for product_id, initial in initial_stock.items():
        stock = database.products.find_one({"_id": ObjectId(product_id)})["inventory"]["quantity"]
        assert stock >= 0
        unexplained = stock - (initial + ledger.restocked[product_id] - sold[product_id])
        possible = {0}
        for units in ledger.uncertain_restocks.get(product_id, []):
            possible |= {total + units for total in possible}
        assert unexplained in possible, (product_id, stock, unexplained, possible)

    users = {u["email"]: u for u in database.users.find({}, {"email": 1, "email_verified": 1})}
    welcomes = Counter(item["to"] for item in database.mail_outbox.find({"kind": "welcome"}))
    for email, user in users.items():
        if email == ADMIN_EMAIL:
            # Made by the API's start-up before any worker had ever watched: a worker's
            # very first stream starts at "now" (there is no checkpoint to resume from).
            continue
        expected = 1 if user.get("email_verified", True) else 0
        assert welcomes[email] == expected, (email, welcomes[email])

    assert set(ledger.registered) <= set(users)
    assert all(users[email].get("email_verified") for email in ledger.verified)
    stored_orders = {str(order["_id"]): order for order in orders}
    assert set(ledger.orders) <= set(stored_orders)
    assert all(stored_orders[order]["status"] == "cancelled" for order in ledger.cancelled)
    stored_transfers = {str(t["_id"]) for t in database.transfers.find({}, {"_id": 1})}
    assert set(ledger.transfers) <= stored_transfers
