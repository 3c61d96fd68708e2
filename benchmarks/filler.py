"""Filler documents, in the exact stored shapes, inserted raw: a large shop, quickly.

Shared by the growth benchmark (`bench_growth.py`) and the growth guard test
(`tests/integration/test_growth_guard.py`): each filler user has a funded account,
an order with its ledger entry, a transfer, a sent welcome e-mail, a sign-in
throttle record and a token; filler products go round `CATEGORIES`. All users share
one password hash, so filling costs no hashing.
"""

from __future__ import annotations

from datetime import timedelta

from bson import ObjectId
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import AutoReconnect, BulkWriteError

from mongoshop._async.repositories.products import product_document
from mongoshop._async.repositories.users import user_document
from mongoshop.clock import utcnow
from mongoshop.mail.documents import welcome_document
from mongoshop.models.common import Document
from mongoshop.models.mail import MailStatus
from mongoshop.models.money import Money
from mongoshop.models.orders import OrderStatus
from mongoshop.models.products import Inventory, ProductCreate
from mongoshop.models.users import UserInDB
from mongoshop.models.wallet import EntryKind

BATCH = 2000
CATEGORIES = [
    "kitchen",
    "garden",
    "books",
    "toys",
    "sports",
    "music",
    "office",
    "beauty",
    "tools",
    "pets",
]
"""Filler products go round these: "kitchen" (the broad listing) holds a tenth of them."""
COMMON_PRODUCT_WORD = "widget"
"""In every filler product's name."""
COMMON_USER_WORD = "filler"
ADJECTIVES = ["red", "blue", "small", "large", "steel", "wooden", "classic"]
EPOCH = utcnow()
"""Filler documents' times count back from here: the newest ones are the same at every size."""


SEND_ATTEMPTS = 3
DUPLICATE_KEY = 11000


def insert_all(collection: Collection[Document], documents: list[Document]) -> None:
    """Insert every document once, even when its batch reaches the server twice.

    On a loaded machine a batch can outlive the socket timeout while the server
    still applies it; the driver then sends it again (or we do, after a second
    timeout), and a server that does not recognise the retry answers that the
    first attempt's documents are duplicates. Those are in: not an error. A
    duplicate whose `_id` is absent is a real clash and is raised.
    """
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            collection.insert_many(documents, ordered=False)
            return
        except BulkWriteError as error:
            _accept_only_resent(collection, error)
            return
        except AutoReconnect:
            if attempt == SEND_ATTEMPTS:
                raise


def _accept_only_resent(collection: Collection[Document], error: BulkWriteError) -> None:
    for failure in error.details.get("writeErrors", []):
        if failure.get("code") != DUPLICATE_KEY:
            raise error
        if collection.find_one({"_id": failure["op"]["_id"]}, {"_id": 1}) is None:
            raise error


def fill(
    database: Database[Document], start: int, stop: int, password_hash: str, currency: str
) -> None:
    """Filler number `start` to `stop` - 1 in every collection, inserted raw in batches.

    Each filler user has an account, an order (of one filler product) with its
    ledger entry, a transfer, a sent welcome e-mail, a sign-in throttle record
    and a token; all share one password hash. Times count back from one fixed
    instant, so the newest fillers (the first pages) are the same at every size.
    """
    epoch = EPOCH
    for first in range(start, stop, BATCH):
        numbers = range(first, min(stop, first + BATCH))
        users: list[Document] = []
        for n in numbers:
            document = user_document(
                name=f"{COMMON_USER_WORD.title()} Person {n}",
                email=f"{COMMON_USER_WORD}{n}@example.com",
                password_hash=password_hash,
            )
            document["created_at"] = document["updated_at"] = epoch - timedelta(minutes=n + 1)
            users.append({"_id": ObjectId(), **document})
        accounts: list[Document] = [
            {
                "_id": ObjectId(),
                "user_id": user["_id"],
                "balance": 10_000,
                "currency": currency,
                "created_at": user["created_at"],
                "updated_at": user["created_at"],
            }
            for user in users
        ]
        products: list[Document] = [
            {
                "_id": ObjectId(),
                **product_document(
                    ProductCreate(
                        name=f"{ADJECTIVES[n % len(ADJECTIVES)].title()} {COMMON_PRODUCT_WORD} {n}",
                        category=CATEGORIES[n % len(CATEGORIES)],
                        price=Money(amount=100 + n % 5000, currency=currency),
                        tags=["filler", f"t{n % 50}"],
                        inventory=Inventory(quantity=100),
                    ),
                    epoch - timedelta(minutes=n + 1),
                ),
            }
            for n in numbers
        ]
        orders: list[Document] = []
        ledger: list[Document] = []
        transfers: list[Document] = []
        for n, user, account, product in zip(numbers, users, accounts, products, strict=True):
            created = epoch - timedelta(minutes=30 * (n + 1))
            order: Document = {
                "_id": ObjectId(),
                "user_id": user["_id"],
                "account_id": account["_id"],
                "items": [
                    {
                        "product_id": product["_id"],
                        "name": product["name"],
                        "quantity": 1,
                        "unit_price": 100,
                    }
                ],
                "total": {"amount": 100, "currency": currency},
                "status": OrderStatus.COMPLETED.value,
                "request_hash": "filler",
                "created_at": created,
                "cancelled_at": None,
            }
            if n % 2:
                order["idempotency_key"] = f"filler-{n}"
            orders.append(order)
            ledger.append(
                {
                    "account_id": account["_id"],
                    "kind": EntryKind.ORDER.value,
                    "amount": -100,
                    "currency": currency,
                    "reference_id": order["_id"],
                    "reason": None,
                    "created_at": created,
                }
            )
            transfers.append(
                {
                    "user_id": user["_id"],
                    "from_account_id": account["_id"],
                    "to_account_id": accounts[0]["_id"],
                    "amount": 1,
                    "currency": currency,
                    "idempotency_key": f"filler-{n}",
                    "request_hash": "filler",
                    "created_at": created,
                }
            )
        mail: list[Document] = []
        for user in users:
            item = welcome_document(UserInDB.model_validate(user))
            item.update(
                status=MailStatus.SENT.value,
                attempts=1,
                created_at=user["created_at"],
                available_at=user["created_at"],
                sent_at=user["created_at"],
            )
            mail.append(item)
        far = utcnow() + timedelta(days=30)
        insert_all(database.users, users)
        insert_all(database.accounts, accounts)
        insert_all(database.products, products)
        insert_all(database.orders, orders)
        insert_all(database.ledger, ledger)
        insert_all(database.transfers, transfers)
        insert_all(database.mail_outbox, mail)
        insert_all(
            database.login_attempts,
            [{"_id": f"filler-{n}", "attempts": [], "expires_at": far} for n in numbers],
        )
        insert_all(
            database.tokens,
            [
                {
                    "_id": f"filler-{n}",
                    "user_id": user["_id"],
                    "created_at": user["created_at"],
                    "expires_at": far,
                }
                for n, user in zip(numbers, users, strict=True)
            ],
        )
