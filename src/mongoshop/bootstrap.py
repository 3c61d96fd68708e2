"""The composition root: from settings to a shop that is ready, on either face.

"Resolve the URI (the configured one, or the embedded server's), create the
client, check the server, build the shop, refuse a database migrated past this
code, ensure its indexes" happens here and
nowhere else: the API's lifespan, the worker and every command open their shop
through `open_async_shop` or `open_shop` (cosmicpython's ``bootstrap``). What
varies is passed in: the caches the API keeps, a command listener of its
metrics, a password hasher for tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from prometheus_client import Histogram

from mongoshop._async.repositories.schema import AsyncMigrationRecords
from mongoshop._async.shop import AsyncShop
from mongoshop._sync.repositories.schema import MigrationRecords
from mongoshop._sync.shop import Shop
from mongoshop.db import (
    create_async_client,
    create_sync_client,
    require_supported_server,
    resolve_uri,
)
from mongoshop.migrations import MIGRATIONS
from mongoshop.migrations.runner import check_applied
from mongoshop.settings import Settings


@contextlib.asynccontextmanager
async def open_async_shop(
    settings: Settings,
    *,
    uri: str | None = None,
    command_latency: Histogram | None = None,
    **shop_options: Any,
) -> AsyncIterator[AsyncShop]:
    """An `AsyncShop` on `uri` (default: the configured database, or the embedded server,
    started for the block), its indexes ensured; the client is closed on exit.

    `shop_options` go to `AsyncShop` (its caches, a hasher).
    """
    with contextlib.ExitStack() as stack:
        if uri is None:
            uri = stack.enter_context(resolve_uri(settings))
        client = create_async_client(uri, settings, command_latency=command_latency)
        try:
            require_supported_server(await client.admin.command("hello"))
            shop = AsyncShop(client[settings.mongodb_database], settings, **shop_options)
            check_applied(
                await AsyncMigrationRecords(shop.repositories.schema).applied(), MIGRATIONS
            )
            await shop.ensure_indexes()
            try:
                yield shop
            finally:
                await shop.background.close()
        finally:
            await client.close()


@contextlib.contextmanager
def open_shop(
    settings: Settings,
    *,
    uri: str | None = None,
    ensure_indexes: bool = True,
    **shop_options: Any,
) -> Iterator[Shop]:
    """A `Shop` (the sync face) on `uri`, as `open_async_shop` opens an `AsyncShop`.

    `ensure_indexes=False`: for the command that shows the index plan before
    anything is created (``mongoshop db indexes``).
    """
    with contextlib.ExitStack() as stack:
        if uri is None:
            uri = stack.enter_context(resolve_uri(settings))
        client = create_sync_client(uri, settings)
        try:
            require_supported_server(client.admin.command("hello"))
            shop = Shop(client[settings.mongodb_database], settings, **shop_options)
            check_applied(MigrationRecords(shop.repositories.schema).applied(), MIGRATIONS)
            if ensure_indexes:
                shop.ensure_indexes()
            yield shop
        finally:
            client.close()
