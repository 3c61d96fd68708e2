"""Fixtures of the commerce tests: funded customers, an admin, products."""

from __future__ import annotations

import pytest
from pymongo import AsyncMongoClient

from mongoshop._async.shop import AsyncShop
from mongoshop.models.common import Document
from tests.integration.helpers import Customer, Customers, Products


@pytest.fixture
def customers(ashop: AsyncShop) -> Customers:
    """``await customers.create(n, balance=...)``: users with funded wallets."""
    return Customers(ashop)


@pytest.fixture
def products(ashop: AsyncShop) -> Products:
    """``await products.create(quantity=..., price=...)``: catalog entries."""
    return Products(ashop)


@pytest.fixture
async def buyer(customers: Customers) -> Customer:
    """A registered user whose wallet holds the opening balance."""
    return await customers.one()


@pytest.fixture
async def admin(customers: Customers) -> Customer:
    return await customers.one(admin=True)


@pytest.fixture(scope="session")
async def on_secantus(async_client: AsyncMongoClient[Document]) -> bool:
    """True on the embedded SecantusDB (its buildInfo names its own version)."""
    info = await async_client.admin.command("buildInfo")
    return "secantusVersion" in info
