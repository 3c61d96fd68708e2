"""The FastAPI application: built by `create_app`, wired in its lifespan.

The client is created in the lifespan (so after any fork of a uvicorn worker),
passed to `AsyncShop`, and closed on shutdown. Nothing connects at import time.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from mongoshop import __version__
from mongoshop._async.shop import AsyncShop
from mongoshop.api.errors import install_error_handlers
from mongoshop.api.routers import admin, auth, health, orders, products, users, wallet
from mongoshop.db import create_async_client, require_replica_set, resolve_uri
from mongoshop.settings import Settings, get_settings

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new application; with no settings, they are read from the environment."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with resolve_uri(settings) as uri:
            client = create_async_client(uri, settings)
            try:
                require_replica_set(await client.admin.command("hello"))
                shop = AsyncShop(client[settings.mongodb_database], settings)
                await shop.ensure_indexes()
                await shop.bootstrap_admin()
                app.state.shop = shop
                logger.info("mongoshop API ready on database %s", settings.mongodb_database)
                yield
            finally:
                await client.close()

    app = FastAPI(
        title="mongoshop",
        version=__version__,
        summary="A shop backend on MongoDB: accounts, catalog, orders, wallets.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in (health, auth, users, products, wallet, orders, admin):
        app.include_router(module.router)
    return app
