"""Fixtures shared by every tier.

One database server per test session: the embedded SecantusDB started with
our own launcher on a temporary directory, or the replica set named by
``MONGOSHOP_TEST_MONGODB_URI``. Every test that touches data gets a database
of its own, dropped afterwards.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pymongo
import pytest
from pwdlib.hashers.argon2 import Argon2Hasher
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import PyMongoError

from mongoshop._async.shop import AsyncShop
from mongoshop._sync.shop import Shop
from mongoshop.db import EmbeddedServer, create_async_client, create_sync_client
from mongoshop.models.common import Document
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings

TEST_URI_VARIABLE = "MONGOSHOP_TEST_MONGODB_URI"
DROP_TIMEOUT = 120
"""Seconds a test's database may take to drop: on the embedded server, a large one while
the other tiers keep the machine busy takes longer than the socket timeout."""


def drop_large_database(client: MongoClient[Document], name: str) -> None:
    """Drop a test's large database (tens of thousands of documents), or say that it
    could not: its name is the test's own, so a database left behind changes no other
    test, and in CI the embedded server's data goes with the run. Seen twice in CI: a
    drop of 30,000 documents outlived `DROP_TIMEOUT` while three tiers shared two cores
    (another drop of the same size had taken 1.5 s)."""
    try:
        with pymongo.timeout(DROP_TIMEOUT):
            client.drop_database(name)
    except PyMongoError as exc:
        # Logged, not warned: warnings are errors in this suite, and this is no failure.
        logging.getLogger(__name__).warning("test database %s left behind: %s", name, exc)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak-seconds",
        type=float,
        default=20.0,
        help="How long the chaos soak (tests/soak) runs its workload; 20 s in the suite",
    )


@pytest.fixture
def soak_seconds(request: pytest.FixtureRequest) -> float:
    seconds: float = request.config.getoption("--soak-seconds")
    return seconds


def new_database_name(prefix: str = "test") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="session")
def mongodb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server every test talks to, through PyMongo only."""
    configured = os.environ.get(TEST_URI_VARIABLE)
    if configured:
        yield configured
        return
    # Test commands (configureFailPoint) are on for the fault-injection tests only here.
    server = EmbeddedServer(
        tmp_path_factory.mktemp("secantus"), extra_args=["--enable-test-commands"]
    )
    with server:
        yield server.uri


@pytest.fixture(scope="session")
def base_settings(mongodb_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        environment="test",
        mongodb_uri=mongodb_uri,
        mongodb_database="unused",
        token_secret="test-token-secret-0123456789",  # type: ignore[arg-type]
        data_dir=tmp_path_factory.mktemp("data"),
        server_selection_timeout_ms=5000,
        # The heartbeat of a new client times out after connectTimeoutMS, and a
        # timed-out heartbeat cancels that client's operations in flight
        # (_OperationCancelled). On two cores, while other tests start their own
        # database servers, the shared server can stall for seconds: wait longer.
        connect_timeout_ms=30000,
    )


@pytest.fixture
def database_name() -> str:
    return new_database_name()


@pytest.fixture
def settings(base_settings: Settings, database_name: str) -> Settings:
    return base_settings.model_copy(update={"mongodb_database": database_name})


@pytest.fixture(scope="session")
def hasher() -> PasswordHasher:
    """Real argon2 at a low cost: the same code path, a fraction of the time."""
    return PasswordHasher(Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1))


@pytest.fixture(scope="session")
def sync_client(base_settings: Settings, mongodb_uri: str) -> Iterator[MongoClient[Document]]:
    client = create_sync_client(mongodb_uri, base_settings)
    yield client
    client.close()


@pytest.fixture(scope="session")
async def async_client(
    base_settings: Settings, mongodb_uri: str
) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = create_async_client(mongodb_uri, base_settings)
    yield client
    await client.close()


@pytest.fixture
async def ashop(
    async_client: AsyncMongoClient[Document],
    settings: Settings,
    hasher: PasswordHasher,
) -> AsyncIterator[AsyncShop]:
    """The async face over a fresh database, indexes created."""
    shop = AsyncShop(async_client[settings.mongodb_database], settings, hasher=hasher)
    await shop.ensure_indexes()
    yield shop
    with pymongo.timeout(DROP_TIMEOUT):
        await async_client.drop_database(settings.mongodb_database)


@pytest.fixture
def shop(
    sync_client: MongoClient[Document], settings: Settings, hasher: PasswordHasher
) -> Iterator[Shop]:
    """The sync face over a fresh database, indexes created."""
    shop = Shop(sync_client[settings.mongodb_database], settings, hasher=hasher)
    shop.ensure_indexes()
    yield shop
    with pymongo.timeout(DROP_TIMEOUT):
        sync_client.drop_database(settings.mongodb_database)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
