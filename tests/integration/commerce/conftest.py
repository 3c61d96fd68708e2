"""Fixtures of the commerce tests: funded customers, an admin, products, a shop whose
clock the test moves (`dshop`, for figures that age)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient

from mongoshop._async.shop import AsyncShop
from mongoshop.models.common import Document
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings
from tests.integration.helpers import Customer, Customers, MovingClock, Products


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


REFRESH = 60.0


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock()


@pytest.fixture
async def dshop(
    async_client: AsyncMongoClient[Document],
    settings: Settings,
    hasher: PasswordHasher,
    clock: MovingClock,
) -> AsyncIterator[AsyncShop]:
    configured = settings.model_copy(update={"dashboard_refresh_seconds": REFRESH})
    shop = AsyncShop(
        async_client[configured.mongodb_database], configured, hasher=hasher, clock=clock
    )
    await shop.ensure_indexes()
    yield shop
    await shop.background.close()
    await async_client.drop_database(configured.mongodb_database)
