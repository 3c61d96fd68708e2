"""Helpers of the integration tests: stored user documents, explain plans, fault
injection through the server's `failCommand` failpoint, and the commerce tests'
customers with funded wallets, products, books and plans.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import OperationFailure

from mongoshop._async.repositories.users import user_document as stored_user_document
from mongoshop._async.shop import AsyncShop
from mongoshop.clock import utcnow
from mongoshop.db import client_options
from mongoshop.models.common import Document
from mongoshop.models.money import Money
from mongoshop.models.products import Inventory, ProductCreate, ProductInDB, Reviews
from mongoshop.models.users import Role, UserInDB, UserStatus
from mongoshop.models.wallet import CreditRequest
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings

FAKE_HASH = "not-a-real-hash"
"""For documents inserted directly: those users never sign in."""


def user_document(
    name: str,
    email: str,
    *,
    status: UserStatus = UserStatus.ACTIVE,
    roles: tuple[Role, ...] = (Role.USER,),
    created_at: datetime | None = None,
    login_count: int = 0,
) -> Document:
    """A user exactly as the service stores one, with the fields a test wants to pin."""
    document = stored_user_document(
        name=name, email=email, password_hash=FAKE_HASH, roles=roles, status=status
    )
    if created_at is not None:
        document["created_at"] = document["updated_at"] = created_at
    document["login_count"] = login_count
    return document


# --- turning a recorded command into an explain() ---------------------------------------

_KEEP = {
    "find": {"find", "filter", "sort", "projection", "skip", "limit", "hint", "collation"},
    "aggregate": {"aggregate", "pipeline", "cursor", "hint", "collation"},
}


def explainable(command: Mapping[str, Any]) -> Document:
    """The query part of a command the driver sent, ready to pass to ``explain``.

    Session, cluster-time and read-preference fields are dropped. A ``delete``
    becomes the ``find`` of its filter: the planner chooses the same way for
    both, and not every server explains a delete's filter faithfully.
    """
    name = next(iter(command))
    if name == "delete":
        (statement,) = command["deletes"]
        return {"find": command["delete"], "filter": statement["q"]}
    if name not in _KEEP:
        raise ValueError(f"cannot explain a {name!r} command")
    return {key: value for key, value in command.items() if key in _KEEP[name]}


class CommandLog(monitoring.CommandListener):
    """What the faulty client sent, and which commands failed (and how)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.failures: list[tuple[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.failures.append((event.command_name, event.failure))


@dataclass
class Faulty:
    """An AsyncShop on a client of its own appName, and a way to make it fail once."""

    shop: AsyncShop
    app_name: str
    admin_client: AsyncMongoClient[Document]
    log: CommandLog

    @asynccontextmanager
    async def failing_once(self, **data: Any) -> AsyncIterator[None]:
        admin = self.admin_client.admin
        try:
            await admin.command(
                "configureFailPoint",
                "failCommand",
                mode={"times": 1},
                data={**data, "appName": self.app_name},
            )
        except OperationFailure as exc:
            pytest.skip(
                "the server refuses configureFailPoint (MongoDB must run with "
                f"enableTestCommands=1 for fault injection): {exc}"
            )
        try:
            yield
        finally:
            await admin.command("configureFailPoint", "failCommand", mode="off")


@asynccontextmanager
async def faulty_shop(
    admin_client: AsyncMongoClient[Document],
    mongodb_uri: str,
    settings: Settings,
    hasher: PasswordHasher,
) -> AsyncIterator[Faulty]:
    """A shop over `settings`' database on a client of its own appName, with a command log."""
    app_name = f"faults-{uuid.uuid4().hex[:12]}"
    log = CommandLog()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        mongodb_uri, event_listeners=[log], **{**client_options(settings), "appname": app_name}
    )
    shop = AsyncShop(client[settings.mongodb_database], settings, hasher=hasher)
    try:
        yield Faulty(shop, app_name, admin_client, log)
    finally:
        await client.close()


def assert_fired(log: CommandLog, fault: dict[str, Any]) -> None:
    """The failpoint did fail one of our commands: the test exercised a retry."""
    (command,) = fault["failCommands"]
    failed = [failure for name, failure in log.failures if name == command]
    assert failed, f"the failpoint never fired on {command}; failures: {log.failures}"
    if "errorCode" in fault:
        assert any(isinstance(f, dict) and f.get("code") == fault["errorCode"] for f in failed), (
            failed
        )
    assert log.sent.count(command) >= 2, "the failed command was not retried"


OPENING_BALANCE = 10_000
"""What a test customer's wallet starts with, in minor units."""

OPENING_REASON = "opening balance"
PASSWORD = "password-1234"


@dataclass(frozen=True)
class Customer:
    user: UserInDB
    account_id: ObjectId
    opening: int


class Customers:
    """Creates users with wallets in bulk: one argon2 hash per batch, not per user."""

    def __init__(self, shop: AsyncShop) -> None:
        self.shop = shop

    async def create(
        self, count: int, *, balance: int = OPENING_BALANCE, admin: bool = False
    ) -> list[Customer]:
        tag = uuid.uuid4().hex[:10]
        roles = (Role.USER, Role.ADMIN) if admin else (Role.USER,)
        fields = [
            {"name": f"Customer {n}", "email": f"customer-{tag}-{n}@example.com", "roles": roles}
            for n in range(count)
        ]
        inserted, _ = await self.shop.users.add_demo_users(fields, password=PASSWORD)
        assert inserted == count
        emails = [str(f["email"]) for f in fields]
        ids = await self.shop.repositories.users.ids_by_email(emails)
        user_ids = [ids[email] for email in emails]
        await self._open(user_ids, balance)
        users = {
            user.id: user
            for user in await self.shop.repositories.users.find_many(
                {"_id": {"$in": user_ids}}, limit=count
            )
        }
        accounts = {
            account.user_id: account
            for account in await self.shop.repositories.accounts.find_many(
                {"user_id": {"$in": user_ids}}, limit=count
            )
        }
        return [Customer(users[uid], accounts[uid].id, balance) for uid in user_ids]

    async def _open(self, user_ids: Sequence[ObjectId], balance: int) -> None:
        if balance > 0:
            opened = await self.shop.wallet.open_funded_accounts(user_ids, balance, OPENING_REASON)
            assert opened == len(user_ids)
            return
        for user_id in user_ids:
            await self.shop.wallet.account_of(await self.shop.users.get(str(user_id)))

    async def one(self, *, balance: int = OPENING_BALANCE, admin: bool = False) -> Customer:
        return (await self.create(1, balance=balance, admin=admin))[0]

    async def fund(self, customer: Customer, amount: int, reason: str = "top-up") -> None:
        await self.shop.wallet.credit(
            str(customer.account_id),
            CreditRequest(amount=amount, currency=self.shop.settings.currency, reason=reason),
        )


class Products:
    """Creates catalog entries through the service, with the fields a test pins."""

    def __init__(self, shop: AsyncShop) -> None:
        self.shop = shop
        self.count = 0

    async def create(
        self,
        *,
        quantity: int = 10,
        price: int = 1_000,
        category: str = "books",
        name: str | None = None,
        tags: Sequence[str] = (),
        rating: float = 0.0,
        reviews: int = 0,
    ) -> ProductInDB:
        self.count += 1
        return await self.shop.catalog.create(
            ProductCreate(
                name=name or f"Product {self.count}",
                category=category,
                price=Money(amount=price, currency=self.shop.settings.currency),
                tags=list(tags),
                inventory=Inventory(quantity=quantity),
                reviews=Reviews(rating=rating, count=reviews),
            )
        )


async def balance_of(shop: AsyncShop, account_id: ObjectId) -> int:
    document = await shop.repositories.accounts.collection.find_one({"_id": account_id})
    assert document is not None
    return int(document["balance"])


async def stock_of(shop: AsyncShop, product_id: ObjectId) -> int:
    document = await shop.repositories.products.collection.find_one({"_id": product_id})
    assert document is not None
    return int(document["inventory"]["quantity"])


async def ledger_of(shop: AsyncShop, account_id: ObjectId) -> list[Document]:
    """An account's ledger entries in the order they were written (ObjectId order)."""
    cursor = shop.repositories.ledger.collection.find({"account_id": account_id}).sort("_id", 1)
    return await cursor.to_list()


async def assert_books_balance(shop: AsyncShop) -> None:
    """Every account: balance == the sum of its ledger entries (from zero), never negative."""
    async for account in shop.repositories.accounts.collection.find({}):
        total = await shop.repositories.ledger.sum_for(account["_id"])
        assert account["balance"] == total, account
        assert account["balance"] >= 0, account


def cli_env(settings: Settings, mongodb_uri: str, tmp_path: Path) -> dict[str, str]:
    """The environment a `mongoshop` command needs to reach the test's database."""
    return {
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DATABASE": settings.mongodb_database,
        "MONGOSHOP_DATA_DIR": str(tmp_path / "data"),
    }


class MovingClock:
    """A clock the test moves: a window passes without waiting for it."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
