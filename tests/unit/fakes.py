"""In-memory fakes of the repositories the money use cases write through, and of a
transaction: the services' logic tested without a database (cosmicpython's fakes).

Each fake keeps its documents in a dict and honours the same guards as the real
repository (stock never below zero, no overdraft, a cancellation once), raising
the same domain errors. `FakeTransactions` snapshots every fake before running
a callback and restores them if it raises: all or nothing, as a transaction.
What the fakes cannot show (the query shapes, the indexes, real concurrency) is
the integration tests' job.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from bson import ObjectId

from mongoshop._async.repositories.orders import AsyncOrderRepository
from mongoshop._async.repositories.transfers import AsyncTransferRepository
from mongoshop._async.repositories.wallet import ledger_entry
from mongoshop.errors import InsufficientFunds, NotFound, OutOfStock
from mongoshop.models.common import Document
from mongoshop.models.orders import OrderInDB, OrderStatus
from mongoshop.models.products import ProductInDB
from mongoshop.models.wallet import AccountInDB, EntryKind, LedgerEntryInDB, TransferInDB

T = TypeVar("T")


class FakeCollection:
    """Documents by `_id`; the base of every fake repository."""

    model: Any
    name = "fake"

    def __init__(self) -> None:
        self.documents: dict[Any, Document] = {}

    def key(self, id: object) -> str:
        return f"{self.name}:{id}"

    def to_model(self, document: Document) -> Any:
        return self.model.model_validate(document)

    async def create(self, document: Document, *, session: Any = None) -> ObjectId:
        new_id = document.get("_id") or ObjectId()  # as insert_one: a given _id is kept
        self.documents[new_id] = {**document, "_id": new_id}
        return new_id

    async def find_by_id(self, id: ObjectId | str, *, session: Any = None) -> Any:
        document = self.documents.get(ObjectId(id))
        return None if document is None else self.to_model(document)

    async def get(self, id: ObjectId | str, *, session: Any = None) -> Any:
        found = await self.find_by_id(id)
        if found is None:
            raise NotFound(f"{id} not found")
        return found

    async def find_in_order(self, ids: list[ObjectId]) -> list[Any]:
        return [self.to_model(self.documents[id]) for id in ids if id in self.documents]

    async def find_by_key(self, user_id: ObjectId, key: str, *, session: Any = None) -> Any:
        for document in self.documents.values():
            if document.get("user_id") == user_id and document.get("idempotency_key") == key:
                return self.to_model(document)
        return None


class FakeProducts(FakeCollection):
    model = ProductInDB
    name = "products"

    def add(self, name: str, price: int, stock: int, currency: str = "EUR") -> ObjectId:
        product_id = ObjectId()
        self.documents[product_id] = {
            "_id": product_id,
            "name": name,
            "category": "test",
            "price": {"amount": price, "currency": currency},
            "inventory": {"quantity": stock},
            "created_at": datetime(2026, 1, 1),
            "updated_at": datetime(2026, 1, 1),
        }
        return product_id

    def stock(self, product_id: ObjectId) -> int:
        quantity: int = self.documents[product_id]["inventory"]["quantity"]
        return quantity

    async def change_stock(
        self, product_id: ObjectId, change: int, at: datetime, *, session: Any = None
    ) -> ProductInDB:
        document = self.documents.get(product_id)
        if document is None:
            raise NotFound(f"product {product_id} not found")
        if document["inventory"]["quantity"] + change < 0:
            raise OutOfStock(f"not enough stock of {document['name']}")
        document["inventory"]["quantity"] += change
        document["updated_at"] = at
        product: ProductInDB = self.to_model(document)
        return product

    async def take_stock(
        self, seen: ProductInDB, quantity: int, at: datetime, *, session: Any = None
    ) -> ProductInDB:
        """As the repository's: the product taken at its current price and name."""
        current = self.to_model(self.documents[seen.id]) if seen.id in self.documents else None
        await self.change_stock(seen.id, -quantity, at)
        return current  # type: ignore[return-value]


class FakeAccounts(FakeCollection):
    model = AccountInDB
    name = "accounts"

    async def find_by_user(self, user_id: ObjectId, *, session: Any = None) -> Any:
        for document in self.documents.values():
            if document["user_id"] == user_id:
                return self.to_model(document)
        return None

    async def open_for(
        self, user_id: ObjectId, currency: str, at: datetime, *, session: Any = None
    ) -> AccountInDB:
        found = await self.find_by_user(user_id)
        if found is not None:
            account: AccountInDB = found
            return account
        account_id = await self.create(
            {
                "user_id": user_id,
                "balance": 0,
                "currency": currency,
                "created_at": at,
                "updated_at": at,
            }
        )
        return self.to_model(self.documents[account_id])  # type: ignore[no-any-return]

    def balance(self, account_id: ObjectId) -> int:
        balance: int = self.documents[account_id]["balance"]
        return balance

    async def credit(
        self, account_id: ObjectId, amount: int, currency: str, at: datetime, *, session: Any = None
    ) -> None:
        document = self.documents.get(account_id)
        if document is None or document["currency"] != currency:
            raise NotFound(f"account {account_id} not found (in {currency})")
        document["balance"] += amount

    async def debit(
        self, account_id: ObjectId, amount: int, currency: str, at: datetime, *, session: Any = None
    ) -> None:
        document = self.documents.get(account_id)
        if document is None or document["currency"] != currency:
            raise NotFound(f"account {account_id} not found (in {currency})")
        if document["balance"] < amount:
            raise InsufficientFunds("insufficient funds")
        document["balance"] -= amount


class FakeLedger(FakeCollection):
    model = LedgerEntryInDB
    name = "ledger"

    async def record(
        self,
        account_id: ObjectId,
        kind: EntryKind,
        amount: int,
        currency: str,
        at: datetime,
        *,
        reference_id: ObjectId | None = None,
        reason: str | None = None,
        session: Any = None,
    ) -> ObjectId:
        return await self.create(
            ledger_entry(account_id, kind, amount, currency, at, reference_id, reason)
        )

    def entries(self, account_id: ObjectId) -> list[tuple[str, int]]:
        return [
            (document["kind"], document["amount"])
            for document in self.documents.values()
            if document["account_id"] == account_id
        ]


class FakeOrders(FakeCollection):
    model = OrderInDB
    name = "orders"
    record = AsyncOrderRepository.record
    """The real stored shape, written through the fake's `create`."""

    async def mark_cancelled(
        self, order_id: ObjectId, at: datetime, *, session: Any = None
    ) -> OrderInDB | None:
        document = self.documents.get(order_id)
        if document is None or document["status"] != OrderStatus.COMPLETED.value:
            return None
        document["status"] = OrderStatus.CANCELLED.value
        document["cancelled_at"] = at
        return self.to_model(document)  # type: ignore[no-any-return]


class FakeTransfers(FakeCollection):
    model = TransferInDB
    name = "transfers"
    record = AsyncTransferRepository.record
    """The real stored shape, written through the fake's `create`."""


class FakeTransactions:
    """All or nothing: every fake's documents are restored when the callback raises."""

    def __init__(self, *collections: FakeCollection) -> None:
        self.collections = collections
        self.runs = 0
        self.keys: list[list[str]] = []
        """The keys each run waited for its turn on (`AsyncTransactions.run`)."""
        self.batches: list[str | None] = []
        """The batch each run could share a transaction in."""

    async def run(
        self, callback: Callable[[Any], Awaitable[T]], *, keys: Any = (), batch: str | None = None
    ) -> T:
        self.runs += 1
        self.keys.append(sorted(keys))
        self.batches.append(batch)
        saved = [copy.deepcopy(collection.documents) for collection in self.collections]
        try:
            return await callback(None)
        except BaseException:
            for collection, documents in zip(self.collections, saved, strict=True):
                collection.documents = documents
            raise
