"""Fixtures of the integration tier: a shop whose commands are recorded, for explain()."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from mongoshop._async.shop import AsyncShop
from mongoshop.db import client_options
from mongoshop.models.common import Document
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings
from tests.integration.helpers import Faulty, explainable, faulty_shop


class CommandRecorder(monitoring.CommandListener):
    """Keeps every command the driver sends, so a test can explain exactly that query."""

    def __init__(self) -> None:
        self.commands: list[Document] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append(copy.deepcopy(dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def clear(self) -> None:
        self.commands.clear()

    def last(self, name: str, collection: str) -> Document:
        """The last `name` command (find, delete, aggregate...) sent to `collection`."""
        for command in reversed(self.commands):
            if next(iter(command)) == name and command[name] == collection:
                return command
        raise AssertionError(f"no {name} on {collection} was sent; sent: {self.commands}")


@pytest.fixture(scope="session")
def recorder() -> CommandRecorder:
    return CommandRecorder()


@pytest.fixture(scope="module")
async def recording_client(
    base_settings: Settings, mongodb_uri: str, recorder: CommandRecorder
) -> AsyncIterator[AsyncMongoClient[Document]]:
    """A client per module. A session-wide async client's monitor times out while other
    modules' synchronous tests hold the event loop, and that timeout then cancels the next
    async test's first command (seen twice in CI as `_OperationCancelled`)."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        mongodb_uri, event_listeners=[recorder], **client_options(base_settings)
    )
    yield client
    await client.close()


@pytest.fixture
async def traced_shop(
    recording_client: AsyncMongoClient[Document],
    recorder: CommandRecorder,
    settings: Settings,
    hasher: PasswordHasher,
) -> AsyncIterator[AsyncShop]:
    """The async face over a fresh database, on a client that records its commands."""
    shop = AsyncShop(recording_client[settings.mongodb_database], settings, hasher=hasher)
    await shop.ensure_indexes()
    recorder.clear()
    yield shop
    await recording_client.drop_database(settings.mongodb_database)


@pytest.fixture
def explain(traced_shop: AsyncShop) -> Any:
    """``await explain(command)``: the server's query plan for a recorded command."""

    async def run(command: Document) -> Document:
        return await traced_shop.database.command(
            {"explain": explainable(command), "verbosity": "queryPlanner"}
        )

    return run


@pytest.fixture(scope="session")
async def server_is_secantus(async_client: AsyncMongoClient[Document]) -> bool:
    """True on the embedded SecantusDB (its buildInfo names its own version)."""
    info = await async_client.admin.command("buildInfo")
    return "secantusVersion" in info


@pytest.fixture
async def faulty(
    ashop: AsyncShop,
    async_client: AsyncMongoClient[Document],
    mongodb_uri: str,
    settings: Settings,
    hasher: PasswordHasher,
) -> AsyncIterator[Faulty]:
    """A second shop over `ashop`'s database whose commands can be made to fail once."""
    async with faulty_shop(async_client, mongodb_uri, settings, hasher) as faulty:
        yield faulty
