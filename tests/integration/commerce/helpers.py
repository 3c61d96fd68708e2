"""Helpers of the commerce tests: customers with funded wallets, products, books, plans."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from bson import ObjectId

from mongoshop._async.shop import AsyncShop
from mongoshop.models.common import Document
from mongoshop.models.money import Money
from mongoshop.models.products import Inventory, ProductCreate, ProductInDB, Reviews
from mongoshop.models.users import Role, UserInDB
from mongoshop.models.wallet import CreditRequest

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
        ids = await self.shop.user_repository.ids_by_email(emails)
        user_ids = [ids[email] for email in emails]
        await self._open(user_ids, balance)
        users = {
            user.id: user
            for user in await self.shop.user_repository.find_many(
                {"_id": {"$in": user_ids}}, limit=count
            )
        }
        accounts = {
            account.user_id: account
            for account in await self.shop.account_repository.find_many(
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
    document = await shop.account_repository.collection.find_one({"_id": account_id})
    assert document is not None
    return int(document["balance"])


async def stock_of(shop: AsyncShop, product_id: ObjectId) -> int:
    document = await shop.product_repository.collection.find_one({"_id": product_id})
    assert document is not None
    return int(document["inventory"]["quantity"])


async def ledger_of(shop: AsyncShop, account_id: ObjectId) -> list[Document]:
    """An account's ledger entries in the order they were written (ObjectId order)."""
    cursor = shop.ledger_repository.collection.find({"account_id": account_id}).sort("_id", 1)
    return await cursor.to_list()


async def assert_books_balance(shop: AsyncShop) -> None:
    """Every account: balance == the sum of its ledger entries (from zero), never negative."""
    async for account in shop.account_repository.collection.find({}):
        total = await shop.ledger_repository.sum_for(account["_id"])
        assert account["balance"] == total, account
        assert account["balance"] >= 0, account
