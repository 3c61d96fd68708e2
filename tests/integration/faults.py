"""Fault injection through the server's `failCommand` failpoint, for the integration tests.

Test commands must be enabled (the session server starts with
``--enable-test-commands``; a MongoDB without them skips these tests). The
failpoint only fires for a client with the test's own appName, so nothing else
talking to the server can trip over it, and it is always switched off afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import OperationFailure

from mongoshop._async.shop import AsyncShop
from mongoshop.db import client_options
from mongoshop.models.common import Document
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings


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
