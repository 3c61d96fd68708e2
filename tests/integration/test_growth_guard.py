"""Point operations cost the same on a small and on a large shop: time is the judge.

Each point operation (sign-in, registration, a profile, a product, placing and
cancelling an order, a transfer, a credit, a stock change, a product update, an
outbox claim, a sign-in throttle claim, the idempotency lookups, and the
listings that lead with a selective equality) runs on two shops that differ
only in size: every collection holds `SMALL` documents in one and `LARGE` in
the other, around the same probe documents. Its median time on the large shop
must stay within `RATIO` times its median on the small one.

Why time and not ``explain()``: on the embedded server explain does not
describe what runs (a point lookup with a guard is explained as a collection
scan and takes a millisecond; with ``hint="_id_"`` it is explained as one key
and walks the whole collection). A path whose cost follows its collection is
about 100 times slower at 20,000 documents than at 200 and fails this by far;
the wide margin and the floor (`FLOOR_MS`, for operations too fast to time
reliably on a busy two-core machine) keep it from flaking. The speed itself
is measured by the benchmarks (`benchmarks/bench_growth.py`), never here.

The sync face runs it: the same query shapes as the async one (generated from it).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pymongo
import pytest
from benchmarks.filler import fill
from bson import ObjectId
from pymongo import MongoClient

from mongoshop._sync.repositories.base import NEWEST_FIRST
from mongoshop._sync.shop import Shop
from mongoshop.clock import utcnow
from mongoshop.db import EmbeddedServer, create_sync_client
from mongoshop.mail.documents import outbox_document
from mongoshop.models.common import Document, PageRequest
from mongoshop.models.mail import MailKind
from mongoshop.models.money import Money
from mongoshop.models.orders import OrderItemRequest, OrderRequest
from mongoshop.models.products import Inventory, ProductCreate, ProductQuery, ProductUpdate
from mongoshop.models.users import UserCreate, UserFilter, UserInDB
from mongoshop.models.wallet import CreditRequest, TransferRequest
from mongoshop.models.webhooks import (
    Attempt,
    EventType,
    SubscriptionRequest,
    WebhookEvent,
    event_id,
)
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings
from mongoshop.webhooks.events import Occurrence
from tests.conftest import TEST_URI_VARIABLE

SMALL = 200
LARGE = 20_000
RATIO = 5.0
FLOOR_MS = 2.0
"""Below this, a median is taken as this: sub-millisecond timings are mostly noise here."""
RUNS = 9
PASSWORD = "correct horse battery staple"
CATEGORIES = [f"aisle{n}" for n in range(10)]


@dataclass
class Probe:
    """One shop and its probe documents: the same in both sizes."""

    shop: Shop
    buyer: UserInDB
    payee_account: ObjectId
    product: ObjectId
    rare_word: str
    orders_to_cancel: Iterator[ObjectId]
    replay_order_key: str
    replay_transfer_key: str
    deep_order: ObjectId
    """An order halfway down everyone's list: the cursor of a deep keyset page."""
    deep_entry: ObjectId
    """The buyer's oldest ledger entry but one: the cursor of its last keyset page."""
    webhook: str
    """A subscription with `size` delivered deliveries over the last 30 days."""
    deep_delivery: str
    """One of them halfway back: the cursor of a deep keyset page."""


def _probe(shop: Shop, size: int, hasher: PasswordHasher) -> Probe:
    fill(shop.database, 0, size, hasher.hash(PASSWORD), shop.settings.currency)
    currency = shop.settings.currency
    buyer = shop.users.register(
        UserCreate(name="Probe Buyer", email="probe@example.com", password=PASSWORD),
        verified=True,
    )
    payee = shop.users.register(
        UserCreate(name="Probe Payee", email="payee@example.com", password=PASSWORD),
        verified=True,
    )
    buyer_account = shop.wallet.account_of(buyer)
    shop.wallet.credit(
        str(buyer_account.id),
        CreditRequest(amount=5_000_000, currency=currency, reason="probe funds"),
    )
    product = shop.catalog.create(
        ProductCreate(
            name="Probe teapot zanzibar",
            category=CATEGORIES[0],
            price=Money(amount=100, currency=currency),
            tags=["probe"],
            inventory=Inventory(quantity=100_000),
        )
    )
    one = OrderRequest(items=[OrderItemRequest(product_id=str(product.id), quantity=1)])
    to_cancel = [shop.orders.place(buyer, one)[0].id for _ in range(RUNS + 1)]
    shop.orders.place(buyer, one, "probe-replay")
    payee_account = shop.wallet.account_of(payee).id
    shop.wallet.transfer(
        buyer,
        TransferRequest(to_account_id=str(payee_account), amount=1, currency=currency),
        "probe-replay",
    )
    halfway = shop.repositories.orders.collection.find(
        {}, {"_id": 1}, sort=NEWEST_FIRST, skip=size // 2, limit=1
    ).to_list()
    account = shop.wallet.account_of(buyer).id
    entries = shop.repositories.ledger.collection.find(
        {"account_id": account}, {"_id": 1}, sort=NEWEST_FIRST
    ).to_list()
    webhook, deep_delivery = _webhook_history(shop, size)
    return Probe(
        webhook=webhook,
        deep_delivery=deep_delivery,
        shop=shop,
        buyer=buyer,
        payee_account=payee_account,
        product=product.id,
        rare_word="zanzibar",
        orders_to_cancel=iter(to_cancel),
        replay_order_key="probe-replay",
        replay_transfer_key="probe-replay",
        deep_order=halfway[0]["_id"],
        deep_entry=entries[-2]["_id"],
    )


@pytest.fixture(scope="module")
def growth_client(
    base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MongoClient[Document]]:
    """A server of the module's own, unless the tests run against MongoDB.

    On the shared embedded server every insert of the fill is also matched by the
    change streams of the apps other tests left running, which made filling crawl
    (minutes); the shops would also have to be dropped, which on the embedded
    server takes longer than a socket timeout for 180,000 documents. Its own
    server starts in seconds and is simply stopped at the end.
    """
    configured = os.environ.get(TEST_URI_VARIABLE)
    with contextlib.ExitStack() as stack:
        if configured:
            uri = configured
        else:
            server = stack.enter_context(EmbeddedServer(tmp_path_factory.mktemp("growth")))
            uri = server.uri
        client = create_sync_client(uri, base_settings)
        stack.callback(client.close)
        yield client


@pytest.fixture(scope="module")
def shops(
    growth_client: MongoClient[Document], base_settings: Settings, hasher: PasswordHasher
) -> Iterator[dict[int, Probe]]:
    """The small and the large shop, filled once for the module (dropped only on MongoDB)."""
    names = {size: f"test_growth_{size}_{uuid.uuid4().hex[:8]}" for size in (SMALL, LARGE)}
    try:
        probes = {}
        for size, name in names.items():
            settings = base_settings.model_copy(update={"mongodb_database": name})
            shop = Shop(growth_client[name], settings, hasher=hasher)
            shop.ensure_indexes()
            probes[size] = _probe(shop, size, hasher)
        yield probes
    finally:
        if os.environ.get(TEST_URI_VARIABLE):
            for name in names.values():
                growth_client.drop_database(name)


_counter = itertools.count()


def _unique() -> str:
    return f"{next(_counter)}-{uuid.uuid4().hex[:6]}"


def _order(p: Probe) -> Any:
    request = OrderRequest(items=[OrderItemRequest(product_id=str(p.product), quantity=1)])
    return p.shop.orders.place(p.buyer, request, f"order-{_unique()}")


def _webhook_history(shop: Shop, size: int) -> tuple[str, str]:
    """A subscription and `size` deliveries made to it over 30 days (the history that grows)."""
    subscription = shop.webhooks.create(
        SubscriptionRequest(url="https://93.184.215.14/hooks", event_types=list(EventType))
    )
    now = utcnow()
    step = timedelta(days=30) / size
    documents = [
        {
            "_id": f"evt_{n:032x}.{subscription.id}",
            "event": {"id": f"evt_{n:032x}", "type": "order.placed", "created_at": now, "data": {}},
            "subscription_id": ObjectId(subscription.id),
            "object_key": f"order:{n}",
            "sequence": n,
            "status": "delivered",
            "attempts": 1,
            "available_at": now - step * n,
            "claimed_by": None,
            "history": [],
            "created_at": now - step * n,
            "finished_at": now - step * n,
        }
        for n in range(size)
    ]
    # Batches as the filler's, each allowed two minutes on a machine the other tiers keep
    # busy; a batch retried after a timeout skips what its first try inserted.
    deliveries = shop.repositories.webhook_deliveries
    for start in range(0, size, 2_000):
        with pymongo.timeout(120):
            deliveries.insert_many_new(documents[start : start + 2_000])
    return subscription.id, documents[size // 2]["_id"]


def _deliver_webhook(p: Probe) -> Any:
    """An event fanned out, its delivery claimed, recorded and its successors woken."""
    key = _unique()
    occurrence = Occurrence(
        WebhookEvent(
            id=event_id(EventType.ORDER_PLACED, f"order:{key}", "placed"),
            type=EventType.ORDER_PLACED,
            created_at=utcnow(),
            data={},
        ),
        f"order:{key}",
        int(time.time() * 1000),
    )
    assert p.shop.webhooks.publish([occurrence]) == 1
    deliveries = p.shop.repositories.webhook_deliveries
    claimed = deliveries.claim("guard", utcnow(), timedelta(minutes=5))
    assert claimed is not None
    attempt = Attempt(at=utcnow(), status_code=200, duration_ms=1)
    assert deliveries.mark_delivered(claimed.key, "guard", attempt, utcnow() + timedelta(days=1))
    deliveries.wake_successors(claimed, utcnow())


def _transfer(p: Probe, key: str | None = None) -> Any:
    request = TransferRequest(
        to_account_id=str(p.payee_account), amount=1, currency=p.shop.settings.currency
    )
    return p.shop.wallet.transfer(p.buyer, request, key or f"transfer-{_unique()}")


def _claim_mail(p: Probe) -> Any:
    item = outbox_document(
        MailKind.WELCOME, ObjectId(), f"{_unique()}@example.com", None, {"name": "x", "email": "x"}
    )
    p.shop.repositories.outbox.enqueue(item)
    claimed = p.shop.repositories.outbox.claim("guard", utcnow(), timedelta(minutes=5))
    assert claimed is not None
    p.shop.repositories.outbox.mark_sent(claimed.key, "guard", utcnow())


OPERATIONS: dict[str, Callable[[Probe], Any]] = {
    "sign in": lambda p: p.shop.auth.login("probe@example.com", PASSWORD, "10.0.0.1"),
    "register": lambda p: p.shop.users.register(
        UserCreate(name="New Person", email=f"new-{_unique()}@example.com", password=PASSWORD)
    ),
    "register an unconfirmed address again (the guarded replace)": lambda p: (
        p.shop.repositories.users.replace_unconfirmed(p.buyer.id, {"updated_at": utcnow()})
    ),
    "profile": lambda p: p.shop.users.get(str(p.buyer.id)),
    "one product": lambda p: p.shop.catalog.get(str(p.product)),
    "place an order": _order,
    "replay an order (idempotency lookup)": lambda p: p.shop.orders.place(
        p.buyer,
        OrderRequest(items=[OrderItemRequest(product_id=str(p.product), quantity=1)]),
        p.replay_order_key,
    ),
    "cancel an order": lambda p: p.shop.orders.cancel(p.buyer, str(next(p.orders_to_cancel))),
    "transfer": _transfer,
    "replay a transfer (idempotency lookup)": lambda p: _transfer(p, p.replay_transfer_key),
    "credit": lambda p: p.shop.wallet.credit(
        str(p.payee_account),
        CreditRequest(amount=1, currency=p.shop.settings.currency, reason="guard"),
    ),
    "inventory change": lambda p: p.shop.catalog.change_inventory(str(p.product), 1),
    "product update": lambda p: p.shop.catalog.update(
        str(p.product), ProductUpdate(description=f"updated {_unique()}")
    ),
    "outbox claim": _claim_mail,
    "sign-in throttle claim": lambda p: p.shop.repositories.login_attempts.claim(
        f"guard-{_unique()}",
        ObjectId(),
        at=utcnow(),
        since=utcnow() - timedelta(minutes=15),
        limit=5,
        expires_at=utcnow() + timedelta(minutes=15),
    ),
    "product search by a rare word": lambda p: p.shop.catalog.search(
        ProductQuery(q=f"teapot {p.rare_word}"), PageRequest()
    ),
    "user search by a rare word": lambda p: p.shop.users.list_page(
        UserFilter(q="probe buyer"), PageRequest()
    ),
    "own orders, first page": lambda p: p.shop.orders.list_for(p.buyer, PageRequest()),
    "own ledger, first page": lambda p: p.shop.wallet.history(p.buyer, PageRequest()),
    "own ledger, after an entry (keyset)": lambda p: p.shop.wallet.history(
        p.buyer, PageRequest(after=p.deep_entry)
    ),
    "own orders, after an order (keyset)": lambda p: p.shop.orders.list_for(
        p.buyer, PageRequest(after=p.shop.orders.list_for(p.buyer, PageRequest()).items[-1].id)
    ),
    "everyone's orders, halfway down (keyset)": lambda p: p.shop.repositories.orders.page_for(
        None, skip=0, limit=20, after=p.deep_order
    ),
    "recent orders (admin)": lambda p: p.shop.orders.recent(10),
    "webhook: fan-out, claim, record": _deliver_webhook,
    "webhook: a subscription's deliveries": lambda p: p.shop.webhooks.deliveries_of(p.webhook),
    "webhook: a subscription's deliveries, halfway back (keyset)": lambda p: (
        p.shop.webhooks.deliveries_of(p.webhook, after=p.deep_delivery)
    ),
    "write probe of every collection (write watch)": lambda p: [
        repository.probe_write() for repository in p.shop.repositories.all()
    ],
    "webhook: dead deliveries and counts": lambda p: (
        p.shop.webhooks.newest_dead(20),
        p.shop.webhooks.counts(),
    ),
}


def _medians_ms(operation: Callable[[Probe], Any], shops: dict[int, Probe]) -> tuple[float, float]:
    """The operation's median time on the small and on the large shop, in milliseconds.

    The two shops take turns call by call (as `benchmarks/bench_growth.py` does): a
    burst of load from the other test tiers on this two-core machine then slows
    both alike, instead of reading as growth of whichever was being timed.
    """
    small, large = shops[SMALL], shops[LARGE]
    operation(small)  # warm: connections, caches of the server
    operation(large)
    times: dict[int, list[float]] = {SMALL: [], LARGE: []}
    for _ in range(RUNS):
        for size, probe in ((SMALL, small), (LARGE, large)):
            start = time.perf_counter()
            operation(probe)
            times[size].append((time.perf_counter() - start) * 1000)
    return statistics.median(times[SMALL]), statistics.median(times[LARGE])


@pytest.mark.parametrize("name", OPERATIONS)
def test_a_point_operation_costs_the_same_on_a_shop_a_hundred_times_larger(
    name: str, shops: dict[int, Probe]
) -> None:
    operation = OPERATIONS[name]
    small, large = _medians_ms(operation, shops)

    limit = RATIO * max(small, FLOOR_MS)
    assert large <= limit, (
        f"{name}: {large:.1f} ms with {LARGE} documents per collection, "
        f"{small:.1f} ms with {SMALL}: it grows with the collection"
    )


def test_the_guard_catches_a_path_that_scans(shops: dict[int, Probe]) -> None:
    """The measure can fail: a read that walks the collection is caught by the same rule."""

    def scan(p: Probe) -> Any:
        return p.shop.repositories.products.count({"inventory.quantity": {"$gte": 0}})

    small, large = _medians_ms(scan, shops)

    assert large > RATIO * max(small, FLOOR_MS)
