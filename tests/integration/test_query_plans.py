"""Every query a repository sends is served by an index: a walk over all of them.

The one module that checks which index each query reads (the declarations
themselves: `test_index_declarations.py`). `QUERIES` holds one entry
per public method of every repository class, and a meta-test, which lists those
methods by introspection, fails as soon as one has no entry: a new query cannot
land without saying which index serves it (or why none needs to).

Each entry calls its method on a populated database through a client that
records what it sends (PyMongo command monitoring). Every query among the
recorded commands (find, aggregate, count, distinct, update, delete,
findAndModify) is then explained, outside any session or transaction, and its
winning plan must read one of the expected indexes, never scan the collection;
a listing marked `in_order` must also get its order from the index (no blocking
SORT stage that reads every match).

Methods that send no query (inserts, index builds) are called as well, to check
that they send none; pure query builders and the generic base methods whose
filter comes from their caller are exempt, each with its reason.

Known SecantusDB planner gaps:
on the embedded server the collection scan is asserted, then the test xfails
(so it fails the day the gap closes); on real MongoDB
(``MONGOSHOP_TEST_MONGODB_URI``) the index is asserted. One kind of gap is not
the planner's but explain's: on the embedded server, a point query on ``_id``
with a guard (a balance, a status) is *explained* as a collection scan, yet it
runs in a millisecond at any size, while the index hint that would make explain
show ``_id_`` makes it walk the whole collection. There time wins
(`EXPLAIN_UNTRUE`): the code keeps the fast shape, the plan is asserted on
MongoDB only, and `test_growth_guard.py` checks the cost by time at two sizes.
No query may carry an index hint (asserted for every query of the walk). Queries found to have no
index on purpose (the admin dashboard's whole-collection figures) are marked
`unindexed` with the reason: the scan is asserted and accepted.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

import pymongo
import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession

import mongoshop._async.repositories as repositories_package
from mongoshop._async.repositories.base import AsyncRepository
from mongoshop._async.repositories.products import product_document
from mongoshop._async.shop import AsyncShop
from mongoshop.clock import utcnow
from mongoshop.errors import InsufficientFunds, OutOfStock
from mongoshop.mail.documents import outbox_document
from mongoshop.models.common import Document
from mongoshop.models.mail import MailKind, MailStatus
from mongoshop.models.money import Money
from mongoshop.models.orders import OrderItem, OrderStatus, SalesPeriod
from mongoshop.models.products import ProductCreate, ProductQuery, ProductUpdate, SortField
from mongoshop.models.users import Role, UserFilter, UserStatus
from mongoshop.models.wallet import EntryKind
from mongoshop.models.webhooks import (
    Attempt,
    DeliveryStatus,
    EventType,
    SubscriptionUpdate,
    WebhookEvent,
)
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings
from mongoshop.webhooks.events import Occurrence
from tests.conftest import DROP_TIMEOUT
from tests.integration.conftest import CommandRecorder
from tests.integration.helpers import FAKE_HASH, user_document
from tests.plans import assert_index_scan, winning_stages

# --- the populated database ---------------------------------------------------------------

BASE = datetime(2025, 1, 1, tzinfo=UTC)
USERS = 300
PRODUCTS = 240
ORDERS = 300
BUYERS = 60
"""Orders, transfers and ledger entries belong to the first BUYERS users (five each)."""
CATEGORIES = [f"aisle{n}" for n in range(8)]
STREAMS = ["cache-users", "cache-products", "mail-orders"]
THROTTLE_KEYS = [f"throttle-key-{n:02d}" for n in range(30)]
WEBHOOK_SUBSCRIPTIONS = 12
WEBHOOK_DELIVERIES = 600
EVENT_TYPES = list(EventType)


@dataclass(frozen=True)
class Data:
    """The ids of the documents, by position: the calls pick a few, so they are selective."""

    users: list[ObjectId]
    accounts: list[ObjectId]
    """`accounts[n]` is the account of `users[n]`."""
    products: list[ObjectId]
    orders: list[ObjectId]
    tokens: list[str]
    mail: list[str]
    """The outbox keys: `mail[n]` is pending when n is a multiple of 10, else sent or failed."""
    attempts: list[ObjectId]
    period: SalesPeriod
    subscriptions: list[ObjectId]
    """Webhook subscriptions: every fourth one paused."""
    deliveries: list[str]
    """Their deliveries: `deliveries[n]` is pending when n % 10 == 0, held when 1, dead
    when 2, else delivered; ten subscriptions in turn, three per object."""


def email_of(n: int) -> str:
    """The e-mail of `users[n]`."""
    return f"user{n:03d}@example.com"


def price_of(n: int) -> int:
    """The price of `products[n]`, in minor units."""
    return (n * 37) % 20_000


def welcome(email: str, user_id: ObjectId | None = None) -> Document:
    """A welcome e-mail as the outbox stores one: pending, due now."""
    values = {"name": "Someone", "email": email}
    return outbox_document(MailKind.WELCOME, user_id or ObjectId(), email, None, values)


async def populate(shop: AsyncShop) -> Data:
    """A few hundred varied documents per collection: every filter below is selective."""
    now = utcnow()
    currency = shop.settings.currency

    users = [ObjectId() for _ in range(USERS)]
    people = []
    for n, user_id in enumerate(users):
        name = {10: "Zéphyrine Dupont", 11: "Zéphyrine Martin"}.get(n, f"Person {n:03d}")
        document = user_document(
            name,
            email_of(n),
            status=UserStatus.SUSPENDED if n % 50 == 7 else UserStatus.ACTIVE,
            roles=(Role.USER, Role.ADMIN) if n % 75 == 3 else (Role.USER,),
            created_at=BASE - timedelta(hours=n),
            login_count=n % 17,
        )
        people.append({"_id": user_id, **document})
    await shop.repositories.users.collection.insert_many(people)

    tokens = [f"digest-{n:04d}" for n in range(USERS)]
    await shop.repositories.tokens.collection.insert_many(
        [
            {
                "_id": digest,
                "user_id": users[n // 2],
                "created_at": now,
                # Far ahead: the TTL monitor must not remove them during the run.
                "expires_at": now + timedelta(days=30),
            }
            for n, digest in enumerate(tokens)
        ]
    )

    products = [ObjectId() for _ in range(PRODUCTS)]
    catalog = []
    for n, product_id in enumerate(products):
        tags = ["common", *(["rare", "gift"] if n % 97 == 0 else []), f"t{n % 20}"]
        document = product_document(
            ProductCreate(
                name=f"Item {n} {'Teapot' if n % 50 == 0 else 'Widget'}",
                category=CATEGORIES[n % len(CATEGORIES)],
                price=Money(amount=price_of(n), currency=currency),
                tags=tags,
            ),
            BASE + timedelta(minutes=n),
        )
        document["reviews"]["rating"] = (n % 50) / 10
        document["inventory"]["quantity"] = 100
        catalog.append({"_id": product_id, **document})
    await shop.repositories.products.collection.insert_many(catalog)

    accounts = [ObjectId() for _ in range(USERS)]
    await shop.repositories.accounts.collection.insert_many(
        [
            {
                "_id": account_id,
                "user_id": user_id,
                "balance": 10_000,
                "currency": currency,
                "created_at": BASE,
                "updated_at": BASE,
            }
            for user_id, account_id in zip(users, accounts, strict=True)
        ]
    )
    await shop.repositories.ledger.collection.insert_many(
        [
            {
                "account_id": accounts[n % BUYERS],
                "kind": EntryKind.CREDIT.value,
                "amount": 100,
                "currency": currency,
                "reference_id": None,
                "reason": "opening",
                "created_at": BASE + timedelta(minutes=n),
            }
            for n in range(ORDERS)
        ]
    )

    orders = [ObjectId() for _ in range(ORDERS)]
    purchases: list[Document] = []
    transfers: list[Document] = []
    for n, order_id in enumerate(orders):
        buyer = n % BUYERS
        order: Document = {
            "_id": order_id,
            "user_id": users[buyer],
            "account_id": accounts[buyer],
            "items": [
                {
                    "product_id": products[n % PRODUCTS],
                    "name": f"Item {n % PRODUCTS}",
                    "quantity": 1,
                    "unit_price": 100,
                }
            ],
            "total": {"amount": 100, "currency": currency},
            # Mostly cancelled: the completed ones of a period are a small part of it.
            "status": (OrderStatus.COMPLETED if n % 6 == 0 else OrderStatus.CANCELLED).value,
            "request_hash": "h",
            "created_at": BASE + timedelta(hours=n),
            "cancelled_at": None,
        }
        if n % 2 == 0:
            order["idempotency_key"] = f"key-{n}"
        purchases.append(order)
        transfers.append(
            {
                "user_id": users[buyer],
                "from_account_id": accounts[buyer],
                "to_account_id": accounts[(buyer + 1) % BUYERS],
                "amount": 1,
                "currency": currency,
                "idempotency_key": f"key-{n}",
                "request_hash": "h",
                "created_at": BASE + timedelta(hours=n),
            }
        )
    await shop.repositories.orders.collection.insert_many(purchases)
    await shop.repositories.transfers.collection.insert_many(transfers)

    mail = []
    for n in range(USERS):
        document = welcome(email_of(n), users[n])
        # Mostly sent; every tenth still pending (and due), a few given up on.
        if n % 10 != 0:
            document["status"] = (MailStatus.FAILED if n % 25 == 1 else MailStatus.SENT).value
        document["available_at"] = now - timedelta(minutes=n)
        mail.append(document)
    await shop.repositories.outbox.enqueue_many(mail)  # the pending ones in line

    await shop.repositories.checkpoints.collection.insert_many(
        [{"_id": name, "resume_token": {"_data": "00"}, "updated_at": now} for name in STREAMS]
    )

    attempts = [ObjectId() for _ in range(USERS)]
    await shop.repositories.login_attempts.collection.insert_many(
        [
            {
                "_id": key,
                "attempts": [
                    {"id": attempt_id, "at": now - timedelta(seconds=n)}
                    for n, attempt_id in enumerate(attempts)
                    if n % len(THROTTLE_KEYS) == k
                ],
                "expires_at": now + timedelta(days=1),
            }
            for k, key in enumerate(THROTTLE_KEYS)
        ]
    )

    subscriptions = [ObjectId() for _ in range(WEBHOOK_SUBSCRIPTIONS)]
    await shop.repositories.webhook_subscriptions.collection.insert_many(
        [
            {
                "_id": subscription_id,
                "url": f"https://hooks{n}.example/in",
                "event_types": [EVENT_TYPES[n % len(EVENT_TYPES)].value],
                "secret": "whsec_x",
                "description": None,
                "status": "paused" if n % 4 == 3 else "active",
                "paused_reason": None,
                "paused_at": None,
                "consecutive_dead": n % 3,
                "created_at": BASE + timedelta(minutes=n),
                "updated_at": BASE,
            }
            for n, subscription_id in enumerate(subscriptions)
        ]
    )
    deliveries = []
    for n in range(WEBHOOK_DELIVERIES):
        status = {0: "pending", 1: "held", 2: "dead"}.get(n % 10, "delivered")
        deliveries.append(
            {
                "_id": f"evt_{n:032x}.{subscriptions[n % WEBHOOK_SUBSCRIPTIONS]}",
                "event": {
                    "id": f"evt_{n:032x}",
                    "type": "order.placed",
                    "created_at": BASE,
                    "data": {"n": n},
                },
                "subscription_id": subscriptions[n % WEBHOOK_SUBSCRIPTIONS],
                "object_key": f"order:{n // 3}",
                "sequence": n,
                "status": status,
                "attempts": 1,
                "available_at": now - timedelta(minutes=n),
                "claimed_by": None,
                "last_error": None,
                "history": [],
                "created_at": BASE + timedelta(minutes=n),
                "finished_at": None,
            }
        )
    await shop.repositories.webhook_deliveries.enqueue_many(deliveries)  # pending: in line

    return Data(
        subscriptions=subscriptions,
        deliveries=[document["_id"] for document in deliveries],
        users=users,
        accounts=accounts,
        products=products,
        orders=orders,
        tokens=tokens,
        mail=[document["_id"] for document in mail],
        attempts=attempts,
        period=SalesPeriod(start=BASE + timedelta(days=3), end=BASE + timedelta(days=9)),
    )


@pytest.fixture(scope="module")
async def populated(
    recording_client: AsyncMongoClient[Document],
    base_settings: Settings,
    hasher: PasswordHasher,
) -> AsyncIterator[tuple[AsyncShop, Data]]:
    """One database for the whole module: filling and dropping it is the slow part."""
    name = f"test_query_plans_{uuid.uuid4().hex[:12]}"
    settings = base_settings.model_copy(update={"mongodb_database": name})
    shop = AsyncShop(recording_client[name], settings, hasher=hasher)
    await shop.ensure_indexes()
    try:
        yield shop, await populate(shop)
    finally:
        with pymongo.timeout(DROP_TIMEOUT):  # thousands of documents, on a busy machine
            await recording_client.drop_database(name)


# --- turning recorded commands into explained queries ------------------------------------

QUERY_KINDS = {"find", "aggregate", "count", "distinct", "update", "delete", "findAndModify"}
OTHER_KINDS = {
    "insert",
    "getMore",
    "killCursors",
    "createIndexes",
    "commitTransaction",
    "abortTransaction",
    "endSessions",
}
"""Commands that carry no filter. A kind in neither set fails the walk until classified."""

# What a query is made of: everything else (lsid, $db, txnNumber, startTransaction,
# autocommit, readConcern, writeConcern, $clusterTime, $readPreference...) is dropped.
_QUERY_FIELDS = {
    "find": {"filter", "sort", "projection", "skip", "limit", "hint", "collation", "let"},
    "aggregate": {"pipeline", "hint", "collation", "let"},
    "count": {"query", "skip", "limit", "hint", "collation"},
    "distinct": {"key", "query", "hint", "collation"},
    "findAndModify": {
        "query",
        "sort",
        "update",
        "remove",
        "new",
        "upsert",
        "fields",
        "arrayFilters",
        "hint",
        "collation",
        "let",
    },
}


def command_kind(command: Document) -> str:
    return next(iter(command))


def explainable_queries(command: Document) -> list[Document]:
    """The queries of a recorded command, each ready for ``explain`` outside any session.

    An update or delete becomes the find of each statement's filter, as in
    `tests.integration.helpers.explainable`: the planner chooses the same way for
    both, and SecantusDB explains a write as if its filter were empty.
    """
    kind = command_kind(command)
    collection = command[kind]
    if kind == "count" and not command.get("query"):
        # estimated_document_count: MongoDB answers from the collection's metadata
        # (RECORD_STORE_FAST_COUNT); SecantusDB explains it as a scan regardless.
        return []
    if kind in ("update", "delete"):
        statements = command["updates" if kind == "update" else "deletes"]
        return [
            {"find": collection, "filter": statement["q"]}
            | ({"hint": statement["hint"]} if "hint" in statement else {})
            for statement in statements
        ]
    query = {kind: collection} | {
        key: value for key, value in command.items() if key in _QUERY_FIELDS[kind]
    }
    if kind == "aggregate":
        query["cursor"] = {}
    return [query]


def sent_queries(recorder: CommandRecorder) -> list[Document]:
    kinds = [command_kind(command) for command in recorder.commands]
    unknown = set(kinds) - QUERY_KINDS - OTHER_KINDS
    assert not unknown, f"unclassified command kinds {unknown}: add them to QUERY/OTHER_KINDS"
    return [
        query
        for command in recorder.commands
        if command_kind(command) in QUERY_KINDS
        for query in explainable_queries(command)
    ]


def scans_collection(explain: Document) -> bool:
    return "COLLSCAN" in [stage.get("stage") for stage in winning_stages(explain)]


# --- the table ----------------------------------------------------------------------------


async def claim_attempt(shop: AsyncShop, key: str, limit: int) -> Any:
    """A sign-in attempt under `key`, with a 15-minute window."""
    now = utcnow()
    return await shop.repositories.login_attempts.claim(
        key,
        ObjectId(),
        at=now,
        since=now - timedelta(minutes=15),
        limit=limit,
        expires_at=now + timedelta(minutes=15),
    )


Call: TypeAlias = Callable[[AsyncShop, Data], Awaitable[Any]]


async def issue_and_consume(shop: AsyncShop, data: Data) -> Any:
    """A verification code stored, then used: the use reads and deletes it by `_id`."""
    digest = f"digest-{uuid.uuid4().hex}"
    await shop.repositories.verifications.issue(
        digest, data.users[5], utcnow(), utcnow() + timedelta(days=1)
    )
    return await shop.repositories.verifications.consume(digest, utcnow())


async def ledger_after_second_entry(shop: AsyncShop, data: Data) -> Any:
    """An account's ledger after its second newest entry (found through the same index)."""
    account = data.accounts[34]
    _first, second = await shop.repositories.ledger.find_documents(
        {"account_id": account}, sort=[("created_at", -1), ("_id", -1)], limit=2
    )
    return await shop.repositories.ledger.history(account, skip=0, limit=20, after=second["_id"])


async def drain(documents: AsyncIterator[Any]) -> list[Any]:
    return [document async for document in documents]


@dataclass(frozen=True)
class Uses:
    """Call the method; every query it sends reads one of `indexes`, none scans.

    `gap`: a known SecantusDB planner gap, an expected failure on the embedded
    server only. `unindexed`: an intentional read of the whole collection, with
    the reason; the scan is asserted, so a change of plan is noticed.
    """

    label: str
    call: Call
    indexes: tuple[str, ...]
    gap: str | None = None
    unindexed: str | None = None
    in_order: bool = False
    """The index also gives the sort order: no blocking SORT stage reads every match."""


def uses(
    label: str,
    call: Call,
    *indexes: str,
    gap: str | None = None,
    unindexed: str | None = None,
    in_order: bool = False,
) -> Uses:
    return Uses(label, call, indexes, gap, unindexed, in_order)


@dataclass(frozen=True)
class SendsNoQuery:
    """Call the method; it sends no query at all (an insert, an index build)."""

    call: Call


@dataclass(frozen=True)
class Exempt:
    """Not called here, for the reason given."""

    why: str


Entry: TypeAlias = tuple[Uses, ...] | SendsNoQuery | Exempt


def refused(call: Call, error: type[Exception]) -> Call:
    """`call`, which must fail with `error`: the queries of its error path are walked too."""

    async def run(shop: AsyncShop, data: Data) -> None:
        with pytest.raises(error):
            await call(shop, data)

    return run


async def _take_seen(
    shop: AsyncShop, product_id: ObjectId, quantity: int, session: AsyncClientSession
) -> Any:
    seen = await shop.repositories.products.get(product_id)
    return await shop.repositories.products.take_stock(seen, quantity, utcnow(), session=session)


async def _take_refused(shop: AsyncShop, product_id: ObjectId, session: AsyncClientSession) -> None:
    with pytest.raises(OutOfStock):
        await _take_seen(shop, product_id, 10**6, session)


async def take_last_candidate(shop: AsyncShop) -> Any:
    outbox = shop.repositories.outbox
    candidates = await outbox.line.candidates({"_id": 1})
    return await outbox.take(candidates[-2:], "sender-3", utcnow() + timedelta(minutes=1))


def in_transaction(
    work: Callable[[AsyncShop, Data, AsyncClientSession], Awaitable[Any]],
) -> Call:
    """Run `work` inside a transaction, as the services do, then abort it.

    Explain cannot run in a transaction: the walk strips the transaction fields
    and explains outside it. The abort leaves the shared data as it was.
    """

    async def call(shop: AsyncShop, data: Data) -> Any:
        async with shop.database.client.start_session() as session:
            await session.start_transaction()
            try:
                return await work(shop, data, session)
            finally:
                await session.abort_transaction()

    return call


ATTEMPT = Attempt(at=BASE, status_code=500, duration_ms=12, error="HTTP 500")


def delivery_copy(data: Data, n: int) -> Document:
    """Delivery `n` as stored (the populated one), for calls that take a document."""
    return {
        "_id": data.deliveries[n],
        "event": {"id": f"evt_{n:032x}", "type": "order.placed", "created_at": BASE, "data": {}},
        "subscription_id": data.subscriptions[n % WEBHOOK_SUBSCRIPTIONS],
        "object_key": f"order:{n // 3}",
        "sequence": n,
        "status": "pending",
        "available_at": BASE,
        "created_at": BASE,
    }


GENERIC = "generic: the filter is the caller's; each repository method calling it has its own entry"
NO_IO = "builds a query or maps documents: sends nothing to the database"
# Intentional full reads: the scan is asserted, and this is why it is accepted.
WHOLE_COLLECTION_FACET = (
    "the admin dashboard's figures (totals by status, signups, top logins; price buckets "
    "and categories) are about every document, so its one $facet reads them all; it runs "
    "on an admin's request only, never on a customer path"
)
ID = "_id_"


def new_product(name: str, amount: int, currency: str) -> ProductCreate:
    return ProductCreate(
        name=name, category="aisle0", price=Money(amount=amount, currency=currency)
    )


async def apply_rename(shop: AsyncShop, product_id: ObjectId) -> None:
    """Rename a product through `apply`: the read by `_id` is the test's, not the entry's."""
    current = await shop.repositories.products.get(product_id)
    await shop.repositories.products.apply(current, ProductUpdate(name="Renamed"), utcnow())


def new_occurrence() -> Occurrence:
    """An order's event, never seen before."""
    event_id = f"evt_{uuid.uuid4().hex}"
    event = WebhookEvent(
        id=event_id, type=EventType.ORDER_PLACED, created_at=utcnow(), data={"id": event_id}
    )
    return Occurrence(event=event, object_key=f"order:{event_id}", sequence=1)


FIGURES_GUARD = (
    "explain() on the embedded server calls an `_id` equality with a second condition a"
    " collection scan; `figures` holds a document per dashboard and per day of sales, and"
    " on MongoDB `_id` serves the write"
)
SORT_INDEXES = ("price_id", "created_at_id", "name_id", "rating_id")
"""The catalog's sort indexes: each ends with `_id`, so the index order is the page order."""
OR_OF_RANGES = (
    "an $or of two ranges, each with its index (MongoDB plans one index scan per branch); "
    "the embedded server plans it as a collection scan. It runs only to reconcile after a "
    "change stream's history was lost, never on a request"
)
BROAD_LISTING = (
    "a broad listing: the embedded server sorts every match before taking the page (no "
    "sort push-down), so its cost follows the matches; the API caches its pages by query "
    "(mongoshop.cache.Listings), and on MongoDB the index serves the sort"
)
EXPLAIN_UNTRUE = (
    "explain() on the embedded server calls this a collection scan, but it does not run as "
    "one: its time is the same at 200 and 20,000 documents (test_growth_guard.py); a hint "
    "would make explain show the index and make the query walk the collection"
)
SPARSE_RANGE = (
    "explain() on the embedded server calls this range on a sparse index a collection scan, "
    "but it does not run as one: timed at 1-4 ms with 2,000 and with 40,000 users (only "
    "the unconfirmed accounts are in the index); on MongoDB the index serves it"
)

# Keyed "Class.method" by the class that defines the method: an inherited method has one
# entry, under its base class; an override needs an entry of its own.
QUERIES: dict[str, Entry] = {
    # --- AsyncRepository (base.py): inherited by every repository ---
    "AsyncRepository.ensure_indexes": SendsNoQuery(
        lambda s, d: s.repositories.users.ensure_indexes()
    ),
    "AsyncRepository.to_model": Exempt(NO_IO),
    "AsyncRepository.to_models": Exempt(NO_IO),
    "AsyncRepository.find_by_id": (
        uses("a user", lambda s, d: s.repositories.users.find_by_id(d.users[42]), ID),
    ),
    "AsyncRepository.find_by_ids": (
        uses(
            "three users",
            lambda s, d: s.repositories.users.find_by_ids(d.users[40:43]),
            ID,
        ),
    ),
    "AsyncRepository.get": (
        uses("a product", lambda s, d: s.repositories.products.get(d.products[42]), ID),
    ),
    "AsyncRepository.find_one": Exempt(GENERIC),
    "AsyncRepository.find_many": Exempt(GENERIC),
    "AsyncRepository.find_documents": Exempt(GENERIC),
    "AsyncRepository.create_many": SendsNoQuery(
        lambda s, d: s.repositories.ledger.create_many(
            [
                {
                    "account_id": d.accounts[201],
                    "kind": "credit",
                    "amount": 1,
                    "currency": s.settings.currency,
                    "created_at": utcnow(),
                }
            ]
        )
    ),
    "AsyncRepository.iterate_documents": Exempt(
        "generic; its only caller, the CLI export, streams a whole collection "
        "(or the operator's own filter) on purpose"
    ),
    "AsyncRepository.iterate": Exempt(
        "generic: runs its caller's filter (`placed_since`, `registered_since`, which have"
        " their own entries)"
    ),
    "AsyncRepository.storage_stats": Exempt(
        "a $collStats aggregate: reads the collection's metadata, not its documents"
    ),
    "AsyncRepository.create": SendsNoQuery(
        lambda s, d: s.repositories.ledger.create(
            {
                "account_id": d.accounts[200],
                "kind": "credit",
                "amount": 1,
                "currency": s.settings.currency,
                "created_at": utcnow(),
            }
        )
    ),
    "AsyncRepository.insert_many_new": SendsNoQuery(
        lambda s, d: s.repositories.outbox.insert_many_new(
            [welcome("new1@example.com"), welcome("new2@example.com")]
        )
    ),
    "AsyncRepository.update": Exempt(GENERIC),
    "AsyncRepository.update_by_id": (
        uses(
            "a product",
            lambda s, d: s.repositories.products.update_by_id(
                d.products[43], {"$set": {"updated_at": BASE}}
            ),
            ID,
        ),
    ),
    "AsyncRepository.delete": Exempt(GENERIC),
    "AsyncRepository.delete_by_id": (
        uses(
            "a product, in a transaction",
            in_transaction(
                lambda s, d, session: s.repositories.products.delete_by_id(
                    d.products[44], session=session
                )
            ),
            ID,
        ),
    ),
    "AsyncRepository.count": Exempt(GENERIC),
    "AsyncRepository.page": Exempt(GENERIC),
    "AsyncRepository.update_and_get": Exempt(GENERIC),
    "AsyncRepository.guarded_update": Exempt(GENERIC),
    "AsyncRepository.guarded_change": Exempt(GENERIC),
    "AsyncRepository.find_in_order": (
        uses(
            "a page of products by id",
            lambda s, d: s.repositories.products.find_in_order(d.products[60:80]),
            ID,
        ),
    ),
    "AsyncRepository.exists": Exempt(GENERIC),
    "AsyncRepository.key": Exempt(NO_IO),
    "AsyncRepository.probe_write": (
        uses(
            "the write watch's probe of a collection",
            lambda s, d: s.repositories.products.probe_write(),
            ID,
        ),
    ),
    "AsyncRepository.cursor_time": Exempt(GENERIC),
    "AsyncRepository.newest_before": Exempt(GENERIC),
    # --- AsyncIdempotentRepository (idempotent.py): orders and transfers ---
    "AsyncIdempotentRepository.find_by_key": (
        uses(
            "an order, in a transaction",
            in_transaction(
                lambda s, d, session: s.repositories.orders.find_by_key(
                    d.users[2], "key-2", session=session
                )
            ),
            "user_idempotency_key",
            "user_newest",
            gap=EXPLAIN_UNTRUE,
        ),
        uses(
            "a transfer",
            lambda s, d: s.repositories.transfers.find_by_key(d.users[3], "key-3"),
            "user_idempotency_key",
            "user_newest",
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    # --- AsyncCheckpointRepository (checkpoints.py) ---
    "AsyncSchemaRepository.owned_indexes": (
        uses("the one ownership record", lambda s, d: s.repositories.schema.owned_indexes(), ID),
    ),
    "AsyncSchemaRepository.record_owned": (
        uses(
            "an index created",
            lambda s, d: s.repositories.schema.record_owned("users", ["email_unique"]),
            ID,
        ),
    ),
    "AsyncSchemaRepository.forget_owned": (
        uses(
            "an index dropped",
            lambda s, d: s.repositories.schema.forget_owned("users", ["no_such_index"]),
            ID,
        ),
    ),
    "AsyncFigureRepository.load": (
        uses("a dashboard's figures", lambda s, d: s.repositories.figures.load("users"), ID),
    ),
    "AsyncFigureRepository.load_many": (
        uses(
            "a month of sales days",
            lambda s, d: s.repositories.figures.load_many(
                [f"sales:2026-01-{day:02}" for day in range(1, 31)]
            ),
            ID,
        ),
    ),
    "AsyncFigureRepository.save": (
        uses(
            "a dashboard's figures",
            lambda s, d: s.repositories.figures.save("products", {"count": 1}, utcnow()),
            ID,
            gap=FIGURES_GUARD,
        ),
    ),
    "AsyncFigureRepository.save_many": (
        uses(
            "two days of sales",
            lambda s, d: s.repositories.figures.save_many(
                {"sales:2026-01-01": {"day": "2026-01-01"}, "sales:2026-01-02": {}}, utcnow()
            ),
            ID,
            gap=FIGURES_GUARD,
        ),
    ),
    "AsyncFigureRepository.mark_stale": (
        uses(
            "a day of sales",
            lambda s, d: s.repositories.figures.mark_stale("sales:2026-01-03", utcnow()),
            ID,
        ),
    ),
    "AsyncCheckpointRepository.load": (
        uses("a stream", lambda s, d: s.repositories.checkpoints.load(STREAMS[1]), ID),
    ),
    "AsyncCheckpointRepository.save": (
        uses(
            "a stream",
            lambda s, d: s.repositories.checkpoints.save(STREAMS[2], {"_data": "01"}, utcnow()),
            ID,
        ),
    ),
    # --- AsyncOrderRepository (orders.py) ---
    "AsyncOrderRepository.record": SendsNoQuery(
        lambda s, d: s.repositories.orders.record(
            user_id=d.users[6],
            account_id=d.accounts[6],
            items=[OrderItem(product_id=d.products[6], name="Item", quantity=2, unit_price=300)],
            currency=s.settings.currency,
            request_hash="plans",
            key=None,
            at=utcnow(),
        )
    ),
    "AsyncTransferRepository.record": SendsNoQuery(
        lambda s, d: s.repositories.transfers.record(
            ObjectId(),
            user_id=d.users[7],
            from_account_id=d.accounts[7],
            to_account_id=d.accounts[8],
            amount=100,
            currency=s.settings.currency,
            request_hash="plans",
            key=None,
            at=utcnow(),
        )
    ),
    "AsyncOrderRepository.page_for": (
        uses(
            "a buyer's",
            lambda s, d: s.repositories.orders.page_for(d.users[5], skip=0, limit=20),
            "user_newest",
        ),
        uses(
            "everyone's",
            lambda s, d: s.repositories.orders.page_for(None, skip=20, limit=20),
            "newest",
        ),
        uses(
            "a buyer's, after one of them (keyset)",
            lambda s, d: s.repositories.orders.page_for(
                d.users[5], skip=0, limit=20, after=d.orders[125]
            ),
            "user_newest",
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
        uses(
            "everyone's, after one (keyset)",
            lambda s, d: s.repositories.orders.page_for(
                None, skip=0, limit=20, after=d.orders[200]
            ),
            "newest",
            ID,
        ),
    ),
    "AsyncOrderRepository.placed_since": (
        uses(
            "the last days' orders (reconciling confirmations)",
            lambda s, d: drain(
                s.repositories.orders.placed_since(BASE + timedelta(hours=ORDERS - 5))
            ),
            "newest",
            "status_created",
        ),
    ),
    "AsyncOrderRepository.count_for": (
        # Everyone's is the collection's metadata count (no query to explain).
        uses("a buyer's", lambda s, d: s.repositories.orders.count_for(d.users[5]), "user_newest"),
    ),
    "AsyncOrderRepository.mark_cancelled": (
        uses(
            "a completed order, in a transaction",
            in_transaction(
                lambda s, d, session: s.repositories.orders.mark_cancelled(
                    d.orders[6], utcnow(), session=session
                )
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncOrderRepository.newest": (
        uses("everyone's latest", lambda s, d: s.repositories.orders.newest(10), "newest"),
    ),
    "AsyncOrderRepository.sales_pipeline": Exempt(NO_IO + " (explained through sales_by_day)"),
    "AsyncOrderRepository.sales_by_day": (
        uses(
            "one week",
            lambda s, d: s.repositories.orders.sales_by_day(d.period.start, d.period.end),
            "status_created",
        ),
    ),
    # --- AsyncOutboxRepository (outbox.py) ---
    # --- AsyncLinedRepository (line.py), through the outbox: the deliveries' is the same ---
    "AsyncLinedRepository.enqueue": (
        uses(
            "one e-mail (its place from the queue's counter)",
            lambda s, d: s.repositories.outbox.enqueue(welcome("new3@example.com")),
            ID,
        ),
    ),
    "AsyncLinedRepository.enqueue_in": (
        uses(
            "one e-mail in a transaction (its place taken outside it)",
            in_transaction(
                lambda s, d, session: s.repositories.outbox.enqueue_in(
                    welcome("new6@example.com"), session
                )
            ),
            ID,
        ),
    ),
    "AsyncLinedRepository.enqueue_many": (
        uses(
            "a batch",
            lambda s, d: s.repositories.outbox.enqueue_many([welcome("new4@example.com")]),
            ID,
        ),
    ),
    "AsyncLinedRepository.take": (
        uses(
            "the last two candidates of the line's window",
            lambda s, d: take_last_candidate(s),
            "place",
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncLinedRepository.give_up_unreadable": (
        uses(
            "a claimed e-mail that does not load",
            lambda s, d: s.repositories.outbox.give_up_unreadable(
                {"_id": d.mail[12]}, "sender-1", "kind: not one of the kinds"
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncLinedRepository.sweep": (
        uses(
            "items due again and stragglers (none: its reads alone)",
            lambda s, d: s.repositories.webhook_deliveries.sweep(utcnow()),
            "due_at",
            "place",
            ID,
        ),
    ),
    # --- AsyncOutboxRepository (outbox.py) ---
    "AsyncOutboxRepository.claim": (
        uses(
            "the next e-mail in line",
            lambda s, d: s.repositories.outbox.claim("sender-1", utcnow(), timedelta(minutes=1)),
            "place",
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncOutboxRepository.claim_some": (
        uses(
            "three e-mails in line",
            lambda s, d: s.repositories.outbox.claim_some(
                "sender-4", utcnow(), timedelta(minutes=1), 3
            ),
            "place",
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncLinedRepository.release": (
        uses(
            "a claimed e-mail given back",
            lambda s, d: s.repositories.outbox.release(d.mail[10], "sender-1", 0),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncOutboxRepository.redrive": (
        uses(
            "a failed e-mail",
            lambda s, d: s.repositories.outbox.redrive(d.mail[1]),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncOutboxRepository.redrive_failed": (
        uses(
            "every failed e-mail",
            lambda s, d: s.repositories.outbox.redrive_failed(),
            "status_available",
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncOutboxRepository.mark_sent": (
        uses(
            "a pending e-mail",
            lambda s, d: s.repositories.outbox.mark_sent(d.mail[10], "sender-1", utcnow()),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncOutboxRepository.mark_failed_attempt": (
        uses(
            "a pending e-mail",
            lambda s, d: s.repositories.outbox.mark_failed_attempt(
                d.mail[20], "sender-2", "timeout", utcnow() + timedelta(minutes=5)
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncOutboxRepository.counts": (
        uses("by status", lambda s, d: s.repositories.outbox.counts(), "status_available"),
    ),
    "AsyncOutboxRepository.oldest_pending_at": (
        uses(
            "the oldest pending e-mail",
            lambda s, d: s.repositories.outbox.oldest_pending_at(),
            "status_available",
        ),
    ),
    # --- AsyncProductRepository (products.py) ---
    "AsyncProductRepository.filters_for": Exempt(NO_IO + " (explained through search)"),
    "AsyncProductRepository.sort_for": Exempt(NO_IO + " (explained through search)"),
    "AsyncProductRepository.search": (
        uses(
            "by category and price range",
            lambda s, d: s.repositories.products.search(
                ProductQuery(category="aisle3", min_price=1_000, max_price=3_000), skip=0, limit=20
            ),
            "category_price",
        ),
        uses(
            "by category, newest first",
            lambda s, d: s.repositories.products.search(
                ProductQuery(category="aisle5"), skip=0, limit=20
            ),
            "category_created",
            "category_price",
        ),
        uses(
            "with all of some tags",
            lambda s, d: s.repositories.products.search(
                ProductQuery(tags=["rare", "gift"]), skip=0, limit=20
            ),
            "tags",
        ),
        uses(
            "by free text",
            lambda s, d: s.repositories.products.search(ProductQuery(q="teapot"), skip=0, limit=20),
            "search_tokens",
        ),
        *(
            uses(
                f"everything, by {field.value} {order}",
                lambda s, d, field=field, order=order: s.repositories.products.search(
                    ProductQuery(sort=field, order=order), skip=0, limit=20
                ),
                *SORT_INDEXES,
                gap=BROAD_LISTING,
                in_order=True,
            )
            for field in SortField
            for order in ("asc", "desc")
        ),
    ),
    "AsyncProductRepository.take_stock": (
        uses(
            "an order's units, in a transaction",
            in_transaction(lambda s, d, session: _take_seen(s, d.products[47], 2, session)),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
        uses(
            "more than in stock, in a transaction: refused after a read",
            in_transaction(lambda s, d, session: _take_refused(s, d.products[47], session)),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncProductRepository.change_stock": (
        uses(
            "more stock, in a transaction",
            in_transaction(
                lambda s, d, session: s.repositories.products.change_stock(
                    d.products[45], 5, utcnow(), session=session
                )
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
        uses(
            "less stock, in a transaction",
            in_transaction(
                lambda s, d, session: s.repositories.products.change_stock(
                    d.products[46], -5, utcnow(), session=session
                )
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
        uses(
            "more than in stock: refused, then an existence check",
            refused(
                lambda s, d: s.repositories.products.change_stock(d.products[46], -1_000, utcnow()),
                OutOfStock,
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncProductRepository.insert_unordered": SendsNoQuery(
        lambda s, d: s.repositories.products.insert_unordered(
            [new_product("Brand new", 500, s.settings.currency)], utcnow()
        )
    ),
    "AsyncProductRepository.add": SendsNoQuery(
        lambda s, d: s.repositories.products.add(
            new_product("Added", 700, s.settings.currency), utcnow()
        )
    ),
    "AsyncProductRepository.add_new": SendsNoQuery(
        lambda s, d: s.repositories.products.add_new(
            [(ObjectId(), new_product("Seeded", 800, s.settings.currency))], utcnow()
        )
    ),
    "AsyncProductRepository.apply": (
        uses(
            "a rename (new search tokens)",
            lambda s, d: apply_rename(s, d.products[3]),
            ID,
        ),
    ),
    "AsyncProductRepository.upsert_unordered": (
        uses(
            "on the name (the import's --upsert-on)",
            lambda s, d: s.repositories.products.upsert_unordered(
                [
                    new_product(name, 900, s.settings.currency)
                    for name in ("Item 48 Widget", "Upserted")
                ],
                "name",
                BASE,
            ),
            "name_id",
        ),
    ),
    "AsyncProductRepository.bulk_set_prices": (
        uses(
            "three products, same prices",
            lambda s, d: s.repositories.products.bulk_set_prices(
                [(d.products[n], price_of(n), s.settings.currency) for n in (47, 49, 51)],
                utcnow(),
            ),
            ID,
        ),
    ),
    "AsyncProductRepository.statistics": (
        uses(
            "the dashboard",
            lambda s, d: s.repositories.products.statistics(),
            unindexed=WHOLE_COLLECTION_FACET,
        ),
    ),
    # --- AsyncTokenRepository (tokens.py) ---
    "AsyncTokenRepository.issue": SendsNoQuery(
        lambda s, d: s.repositories.tokens.issue(
            "digest-new", d.users[0], utcnow(), utcnow() + timedelta(days=1)
        )
    ),
    "AsyncTokenRepository.find_valid": (
        uses("a digest", lambda s, d: s.repositories.tokens.find_valid(d.tokens[77], utcnow()), ID),
    ),
    "AsyncTokenRepository.revoke": (
        uses("a digest", lambda s, d: s.repositories.tokens.revoke(d.tokens[78]), ID),
    ),
    "AsyncTokenRepository.revoke_all_for": (
        uses("a user", lambda s, d: s.repositories.tokens.revoke_all_for(d.users[80]), "user_id"),
    ),
    "AsyncTokenRepository.revoke_all_for_users": (
        uses(
            "a few users",
            lambda s, d: s.repositories.tokens.revoke_all_for_users(d.users[81:84]),
            "user_id",
        ),
    ),
    # --- AsyncUserRepository (users.py) ---
    "AsyncUserRepository.insert_user": SendsNoQuery(
        lambda s, d: s.repositories.users.insert_user(user_document("Newcomer", "new@example.com"))
    ),
    "AsyncUserRepository.registered_since": (
        uses(
            "users created or verified lately (reconciling welcomes and events)",
            lambda s, d: drain(s.repositories.users.registered_since(utcnow() - timedelta(days=1))),
            "newest",
            "verified_at",
            gap=OR_OF_RANGES,
        ),
    ),
    "AsyncUserRepository.find_by_email": (
        uses(
            "an e-mail",
            lambda s, d: s.repositories.users.find_by_email(email_of(9)),
            "email_unique",
        ),
    ),
    "AsyncUserRepository.contact_by_email": (
        uses(
            "a taken address (a registration's notice)",
            lambda s, d: s.repositories.users.contact_by_email(email_of(10).upper()),
            "email_unique",
        ),
    ),
    "AsyncUserRepository.contacts": (
        uses("a few buyers", lambda s, d: s.repositories.users.contacts(d.users[20:23]), ID),
    ),
    "AsyncUserRepository.ids_by_email": (
        uses(
            "a few e-mails",
            lambda s, d: s.repositories.users.ids_by_email([email_of(n) for n in (12, 13, 14)]),
            "email_unique",
        ),
    ),
    "AsyncUserRepository.set_fields": (
        uses(
            "a user, in a transaction",
            in_transaction(
                lambda s, d, session: s.repositories.users.set_fields(
                    d.users[15], {"age": 40}, session=session
                )
            ),
            ID,
        ),
    ),
    "AsyncUserRepository.change": (
        uses(
            "a user renamed (its search tokens read from it, then the update)",
            lambda s, d: s.repositories.users.change(d.users[16], {"name": "Renamed"}, utcnow()),
            ID,
        ),
    ),
    "AsyncUserRepository.replace_unconfirmed": (
        uses(
            "an unconfirmed user",
            lambda s, d: s.repositories.users.replace_unconfirmed(d.users[17], {"name": "New"}),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncUserRepository.code_sent": (
        uses(
            "a new code, in a transaction",
            in_transaction(
                lambda s, d, session: s.repositories.users.code_sent(
                    d.users[18], utcnow(), utcnow(), session=session
                )
            ),
            ID,
        ),
    ),
    "AsyncUserRepository.confirm": (
        uses(
            "a confirmation",
            lambda s, d: s.repositories.users.confirm(d.users[19], utcnow()),
            ID,
        ),
    ),
    "AsyncUserRepository.expired_unconfirmed": (
        uses(
            "the expired unconfirmed accounts",
            lambda s, d: s.repositories.users.expired_unconfirmed(utcnow(), limit=100),
            "unconfirmed_until",
            gap=SPARSE_RANGE,
        ),
    ),
    "AsyncUserRepository.delete_expired_unconfirmed": (
        uses(
            "an expired account, in a transaction",
            in_transaction(
                lambda s, d, session: s.repositories.users.delete_expired_unconfirmed(
                    d.users[20], utcnow(), session=session
                )
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncUserRepository.keep_unconfirmed": (
        uses(
            "an account kept",
            lambda s, d: s.repositories.users.keep_unconfirmed(d.users[21]),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncUserRepository.record_login": (
        uses(
            "a login",
            lambda s, d: s.repositories.users.record_login(d.users[16], utcnow(), FAKE_HASH),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncUserRepository.filters_for": Exempt(NO_IO + " (explained through list_page and search)"),
    "AsyncUserRepository.list_page": (
        uses(
            "by status",
            lambda s, d: s.repositories.users.list_page(
                UserFilter(status=UserStatus.SUSPENDED), skip=0, limit=20
            ),
            "status",
            "status_newest",
        ),
        uses(
            "by role",
            lambda s, d: s.repositories.users.list_page(
                UserFilter(role=Role.ADMIN), skip=0, limit=20
            ),
            "roles_newest",
        ),
        uses(
            "by text",
            lambda s, d: s.repositories.users.list_page(
                UserFilter(q="zeph dupont"), skip=0, limit=20
            ),
            "search_tokens",
        ),
        uses(
            "everyone",
            lambda s, d: s.repositories.users.list_page(UserFilter(), skip=20, limit=20),
            "newest",
            gap=BROAD_LISTING,
            in_order=True,
        ),
    ),
    "AsyncUserRepository.search": (
        uses(
            "two words",
            lambda s, d: s.repositories.users.search("zeph dupont"),
            "search_tokens",
        ),
    ),
    "AsyncUserRepository.find_by_role": (
        uses("admins", lambda s, d: s.repositories.users.find_by_role(Role.ADMIN), "roles_newest"),
    ),
    "AsyncUserRepository.bulk_update_status": (
        uses(
            "suspended users, already suspended",
            lambda s, d: s.repositories.users.bulk_update_status(
                [d.users[7], d.users[57]], UserStatus.SUSPENDED, utcnow()
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncUserRepository.statistics": (
        uses(
            "the dashboard",
            lambda s, d: s.repositories.users.statistics(BASE - timedelta(days=5)),
            unindexed=WHOLE_COLLECTION_FACET,
        ),
    ),
    # --- AsyncVerificationRepository (verifications.py) ---
    "AsyncVerificationRepository.issue": SendsNoQuery(
        lambda s, d: s.repositories.verifications.issue(
            f"digest-{uuid.uuid4().hex}", d.users[6], utcnow(), utcnow() + timedelta(days=1)
        )
    ),
    "AsyncVerificationRepository.consume": (uses("a stored code", issue_and_consume, ID),),
    # --- AsyncLoginAttemptRepository (login_attempts.py) ---
    "AsyncLoginAttemptRepository.claim": (
        uses("a key with attempts", lambda s, d: claim_attempt(s, THROTTLE_KEYS[3], 50), ID),
        uses("a new key", lambda s, d: claim_attempt(s, "throttle-key-new", 5), ID),
    ),
    "AsyncLoginAttemptRepository.withdraw": (
        uses(
            "an attempt",
            lambda s, d: s.repositories.login_attempts.withdraw(THROTTLE_KEYS[10], d.attempts[10]),
            ID,
        ),
    ),
    "AsyncLoginAttemptRepository.clear": (
        uses("a key", lambda s, d: s.repositories.login_attempts.clear(THROTTLE_KEYS[4]), ID),
    ),
    # --- AsyncAccountRepository and AsyncLedgerRepository (wallet.py) ---
    "AsyncAccountRepository.open_for": (
        uses(
            "an existing account, in a transaction",
            in_transaction(
                lambda s, d, session: s.repositories.accounts.open_for(
                    d.users[30], s.settings.currency, utcnow(), session=session
                )
            ),
            "user_id_unique",
        ),
    ),
    "AsyncAccountRepository.users_with_accounts": (
        uses(
            "a few users",
            lambda s, d: s.repositories.accounts.users_with_accounts(d.users[40:43]),
            "user_id_unique",
        ),
    ),
    "AsyncAccountRepository.find_by_user": (
        uses(
            "a user",
            lambda s, d: s.repositories.accounts.find_by_user(d.users[31]),
            "user_id_unique",
        ),
    ),
    "AsyncAccountRepository.delete_empty": (
        uses(
            "an empty account, in a transaction",
            in_transaction(
                lambda s, d, session: s.repositories.accounts.delete_empty(
                    d.accounts[36], session=session
                )
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncAccountRepository.credit": (
        uses(
            "in a transaction",
            in_transaction(
                lambda s, d, session: s.repositories.accounts.credit(
                    d.accounts[32], 100, s.settings.currency, utcnow(), session=session
                )
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncAccountRepository.credit_many": (
        uses(
            "three accounts, in a transaction",
            in_transaction(
                lambda s, d, session: s.repositories.accounts.credit_many(
                    d.accounts[35:38], 100, s.settings.currency, utcnow(), session=session
                )
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncAccountRepository.open_many": (
        uses(
            "users with and without accounts (seeding)",
            lambda s, d: s.repositories.accounts.open_many(
                [*d.users[44:46], ObjectId(), ObjectId()], s.settings.currency, utcnow()
            ),
            "user_id_unique",
        ),
    ),
    "AsyncAccountRepository.debit": (
        uses(
            "in a transaction",
            in_transaction(
                lambda s, d, session: s.repositories.accounts.debit(
                    d.accounts[33], 100, s.settings.currency, utcnow(), session=session
                )
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
        uses(
            "an overdraft: refused, then an existence check",
            refused(
                lambda s, d: s.repositories.accounts.debit(
                    d.accounts[33], 10**9, s.settings.currency, utcnow()
                ),
                InsufficientFunds,
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncLedgerRepository.record": SendsNoQuery(
        lambda s, d: s.repositories.ledger.record(
            d.accounts[201], EntryKind.CREDIT, 1, s.settings.currency, utcnow()
        )
    ),
    "AsyncLedgerRepository.record_many": SendsNoQuery(
        lambda s, d: s.repositories.ledger.record_many(
            d.accounts[202:205], EntryKind.CREDIT, 1, s.settings.currency, utcnow()
        )
    ),
    "AsyncLedgerRepository.history": (
        uses(
            "an account",
            lambda s, d: s.repositories.ledger.history(d.accounts[34], skip=0, limit=20),
            "account_newest",
        ),
        uses(
            "an account, after one of its entries (keyset)",
            ledger_after_second_entry,
            "account_newest",
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncLedgerRepository.has_entries": (
        uses(
            "an account",
            lambda s, d: s.repositories.ledger.has_entries(d.accounts[35]),
            "account_newest",
        ),
    ),
    "AsyncLedgerRepository.sum_for": (
        uses(
            "an account",
            lambda s, d: s.repositories.ledger.sum_for(d.accounts[35]),
            "account_newest",
        ),
    ),
    # --- AsyncSubscriptionRepository and AsyncDeliveryRepository (webhooks.py) ---
    "AsyncSubscriptionRepository.subscribed_to": (
        uses(
            "an event type",
            lambda s, d: s.repositories.webhook_subscriptions.subscribed_to(
                EventType.WALLET_CREDITED
            ),
            "event_types",
        ),
    ),
    "AsyncSubscriptionRepository.add": SendsNoQuery(
        lambda s, d: s.repositories.webhook_subscriptions.add(
            "https://hooks.example.com/new", [EventType.ORDER_PLACED], "s" * 32, None, utcnow()
        )
    ),
    "AsyncSubscriptionRepository.change": (
        uses(
            "one subscription",
            lambda s, d: s.repositories.webhook_subscriptions.change(
                d.subscriptions[1],
                SubscriptionUpdate(description="renamed"),
                "https://hooks.example.com/moved",
                utcnow(),
            ),
            ID,
        ),
    ),
    "AsyncSubscriptionRepository.newest": (
        uses(
            "the list",
            lambda s, d: s.repositories.webhook_subscriptions.newest(100),
            "created_at",
            in_order=True,
        ),
    ),
    "AsyncSubscriptionRepository.active_ids": (
        uses("active", lambda s, d: s.repositories.webhook_subscriptions.active_ids(), "status"),
    ),
    "AsyncSubscriptionRepository.count_paused": (
        uses("paused", lambda s, d: s.repositories.webhook_subscriptions.count_paused(), "status"),
    ),
    "AsyncSubscriptionRepository.record_dead": (
        uses(
            "one",
            lambda s, d: s.repositories.webhook_subscriptions.record_dead(d.subscriptions[1]),
            ID,
        ),
    ),
    "AsyncSubscriptionRepository.close_circuit": (
        uses(
            "one",
            lambda s, d: s.repositories.webhook_subscriptions.close_circuit(d.subscriptions[1]),
            ID,
        ),
    ),
    "AsyncSubscriptionRepository.record_failed_attempt": (
        uses(
            "one, opening its circuit",
            lambda s, d: s.repositories.webhook_subscriptions.record_failed_attempt(
                d.subscriptions[1], utcnow(), 1, timedelta(minutes=1)
            ),
            ID,
            "url",
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncSubscriptionRepository.record_success": (
        uses(
            "one",
            lambda s, d: s.repositories.webhook_subscriptions.record_success(d.subscriptions[2]),
            ID,
        ),
    ),
    "AsyncSubscriptionRepository.pause": (
        uses(
            "one, if failing",
            lambda s, d: s.repositories.webhook_subscriptions.pause(
                d.subscriptions[4], "test", utcnow(), if_failing=99
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncSubscriptionRepository.resume": (
        uses(
            "one",
            lambda s, d: s.repositories.webhook_subscriptions.resume(d.subscriptions[3], utcnow()),
            ID,
        ),
    ),
    "AsyncDeliveryRepository.claim": (
        uses(
            "the next delivery in line, in order",
            lambda s, d: s.repositories.webhook_deliveries.claim(
                "deliverer-1", utcnow(), timedelta(minutes=1)
            ),
            "place",
            "object_subscription_status",
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncDeliveryRepository.claim_some": (
        uses(
            "three deliveries in line, in order",
            lambda s, d: s.repositories.webhook_deliveries.claim_some(
                "deliverer-4", utcnow(), timedelta(minutes=1), 3
            ),
            "place",
            "object_subscription_status",
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncDeliveryRepository.hold": (
        uses(
            "a claimed delivery",
            lambda s, d: s.repositories.webhook_deliveries.hold(d.deliveries[10], "x"),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncDeliveryRepository.defer": (
        uses(
            "a claimed delivery",
            lambda s, d: s.repositories.webhook_deliveries.defer(
                d.deliveries[11], "x", utcnow() + timedelta(minutes=1), 0
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncDeliveryRepository.mark_delivered": (
        uses(
            "a claimed delivery",
            lambda s, d: s.repositories.webhook_deliveries.mark_delivered(
                d.deliveries[20], "x", ATTEMPT, utcnow()
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncDeliveryRepository.mark_retry": (
        uses(
            "a claimed delivery",
            lambda s, d: s.repositories.webhook_deliveries.mark_retry(
                d.deliveries[30], "x", ATTEMPT, utcnow()
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncDeliveryRepository.mark_dead": (
        uses(
            "a claimed delivery",
            lambda s, d: s.repositories.webhook_deliveries.mark_dead(
                d.deliveries[40], "x", ATTEMPT
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncDeliveryRepository.wake_successors": (
        uses(
            "an object's later deliveries",
            lambda s, d: s.repositories.webhook_deliveries.wake_successors(
                s.repositories.webhook_deliveries.to_model(delivery_copy(d, 3)), utcnow()
            ),
            "object_subscription_status",
        ),
    ),
    "AsyncDeliveryRepository.release_held": (
        uses(
            "two subscriptions",
            lambda s, d: s.repositories.webhook_deliveries.release_held(d.subscriptions[5:7]),
            "status_subscription_newest",
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncDeliveryRepository.redrive": (
        uses(
            "a dead delivery",
            lambda s, d: s.repositories.webhook_deliveries.redrive(d.deliveries[52]),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncDeliveryRepository.redrive_dead": (
        uses(
            "a subscription's dead ones",
            lambda s, d: s.repositories.webhook_deliveries.redrive_dead(d.subscriptions[8]),
            "status_subscription_newest",
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncDeliveryRepository.for_subscription": (
        uses(
            "a subscription's newest",
            lambda s, d: s.repositories.webhook_deliveries.for_subscription(
                d.subscriptions[9], status=None, after=None, limit=20
            ),
            "subscription_newest",
        ),
        uses(
            "a subscription's dead ones",
            lambda s, d: s.repositories.webhook_deliveries.for_subscription(
                d.subscriptions[2], status=DeliveryStatus.DEAD, after=None, limit=20
            ),
            "status_subscription_newest",
        ),
        uses(
            "after one of them (keyset)",
            lambda s, d: s.repositories.webhook_deliveries.for_subscription(
                d.subscriptions[9],
                status=None,
                after=(BASE + timedelta(minutes=309), d.deliveries[309]),
                limit=20,
            ),
            "subscription_newest",
        ),
    ),
    "AsyncDeliveryRepository.enqueue_for": (
        uses(
            "an event for two subscriptions",
            lambda s, d: s.repositories.webhook_deliveries.enqueue_for(
                [(new_occurrence(), d.subscriptions[0]), (new_occurrence(), d.subscriptions[1])],
                utcnow(),
            ),
            ID,
        ),
    ),
    "AsyncDeliveryRepository.by_key": (
        uses(
            "a delivery", lambda s, d: s.repositories.webhook_deliveries.by_key(d.deliveries[5]), ID
        ),
        uses(
            "a subscription's delivery (a listing's `after`)",
            lambda s, d: s.repositories.webhook_deliveries.by_key(
                d.deliveries[6], d.subscriptions[6 % WEBHOOK_SUBSCRIPTIONS]
            ),
            ID,
            gap=EXPLAIN_UNTRUE,
        ),
    ),
    "AsyncDeliveryRepository.newest_dead": (
        uses(
            "across subscriptions",
            lambda s, d: s.repositories.webhook_deliveries.newest_dead(20),
            "status_available",
        ),
    ),
    "AsyncDeliveryRepository.count_status": (
        uses(
            "dead",
            lambda s, d: s.repositories.webhook_deliveries.count_status(DeliveryStatus.DEAD),
            "status_available",
        ),
    ),
    "AsyncDeliveryRepository.delete_for_subscription": (
        uses(
            "a subscription",
            lambda s, d: s.repositories.webhook_deliveries.delete_for_subscription(
                d.subscriptions[11]
            ),
            "subscription_newest",
            "status_subscription_newest",
            "object_subscription_status",
        ),
    ),
}


# --- the walk -----------------------------------------------------------------------------

CASES = {
    f"{method} {case.label}": case
    for method, entry in QUERIES.items()
    if isinstance(entry, tuple)
    for case in entry
}
NO_QUERY = {method: entry for method, entry in QUERIES.items() if isinstance(entry, SendsNoQuery)}


@pytest.mark.parametrize("name", CASES.keys())
async def test_every_query_reads_an_index(
    name: str,
    populated: tuple[AsyncShop, Data],
    recorder: CommandRecorder,
    async_client: AsyncMongoClient[Document],
    server_is_secantus: bool,
) -> None:
    case = CASES[name]
    shop, data = populated
    recorder.clear()

    await case.call(shop, data)

    queries = sent_queries(recorder)
    assert queries, "the call sent no query: fix its entry in QUERIES"
    in_transactions = [
        c for c in recorder.commands if command_kind(c) == "distinct" and "txnNumber" in c
    ]
    assert not in_transactions, "distinct in a transaction (refused on sharded collections)"
    hinted = [query for query in queries if "hint" in query]
    assert not hinted, f"an index hint (on the embedded server, a hint makes a scan): {hinted}"
    # Explained on another client: outside the call's session and transaction.
    database = async_client[shop.database.name]
    scans = []
    for query in queries:
        explained = await database.command({"explain": query, "verbosity": "queryPlanner"})
        if scans_collection(explained):
            scans.append(query)
        else:
            assert_index_scan(explained, *case.indexes)
            if case.in_order:
                stages = [stage["stage"] for stage in winning_stages(explained)]
                assert "SORT" not in stages, f"a blocking sort: {stages}"
    if case.unindexed:
        assert scans, f"no collection scan any more: remove `unindexed` ({case.unindexed})"
        return
    expected_failure = case.gap if server_is_secantus else None
    if expected_failure:
        # Strict: the day the query reads an index, this fails and the marker can go.
        assert scans, f"no collection scan any more: remove the marker ({expected_failure})"
        pytest.xfail(expected_failure)
    assert not scans, f"collection scan: {scans}"


@pytest.mark.parametrize("method", NO_QUERY.keys())
async def test_methods_exempted_as_sending_no_query_send_none(
    method: str, populated: tuple[AsyncShop, Data], recorder: CommandRecorder
) -> None:
    shop, data = populated
    recorder.clear()

    await NO_QUERY[method].call(shop, data)

    assert recorder.commands, "the call sent nothing at all: is it still the right call?"
    assert sent_queries(recorder) == []


# --- the table covers every repository method ---------------------------------------------


def repository_classes() -> Iterator[type]:
    """Every repository class defined in `mongoshop._async.repositories`."""
    for module_info in pkgutil.iter_modules(repositories_package.__path__):
        module = importlib.import_module(f"{repositories_package.__name__}.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and (
                issubclass(cls, AsyncRepository) or cls.__name__.endswith("Repository")
            ):
                yield cls


def public_methods(cls: type) -> Iterator[str]:
    """`Class.method` for each public method of `cls`, named after the class defining it."""
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") or not (
            inspect.isfunction(member) or inspect.ismethod(member) or isinstance(member, property)
        ):
            continue
        owner = next(klass for klass in cls.__mro__ if name in vars(klass))
        yield f"{owner.__name__}.{name}"


def all_subclasses(cls: type[Any]) -> Iterator[type[Any]]:
    subclasses: list[type[Any]] = cls.__subclasses__()
    for subclass in subclasses:
        yield subclass
        yield from all_subclasses(subclass)


def test_the_introspection_finds_every_repository_class() -> None:
    """Each repository the shop wires (every subclass in mongoshop) is listed."""
    found = set(repository_classes())
    in_mongoshop = {
        cls for cls in all_subclasses(AsyncRepository) if cls.__module__.startswith("mongoshop.")
    }

    assert AsyncRepository in found
    assert in_mongoshop <= found, in_mongoshop - found


def test_every_public_repository_method_has_an_entry() -> None:
    methods = {method for cls in repository_classes() for method in public_methods(cls)}

    missing = sorted(methods - QUERIES.keys())
    assert not missing, f"repository methods without an entry in QUERIES: {missing}"
    stale = sorted(QUERIES.keys() - methods)
    assert not stale, f"entries in QUERIES for methods that no longer exist: {stale}"


def test_every_exemption_says_why() -> None:
    for method, entry in QUERIES.items():
        if isinstance(entry, Exempt):
            assert entry.why.strip(), method
        if isinstance(entry, tuple):
            assert entry, f"{method}: no case"
