"""The FastAPI application: built by `create_app`, wired in its lifespan.

The client is created in the lifespan (so after any fork of a uvicorn worker),
passed to `AsyncShop`, and closed on shutdown. Nothing connects at import time.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI

from mongoshop import __version__
from mongoshop.api.caches import ApiCaches
from mongoshop.api.loops import ApiLoops
from mongoshop.api.middleware import install_middleware
from mongoshop.api.openapi import install_openapi
from mongoshop.api.routers import (
    admin,
    auth,
    dashboard,
    health,
    orders,
    products,
    users,
    wallet,
    webhooks,
)
from mongoshop.bootstrap import open_async_shop
from mongoshop.db.embedded import EmbeddedServer
from mongoshop.http.errors import install_error_handlers
from mongoshop.observability import Metrics, RequestObserver
from mongoshop.observability import route as metrics_route
from mongoshop.settings import Settings, get_settings

logger = logging.getLogger(__name__)

NO_NATIVE_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)
"""FastAPI's own telemetry (0.165+) starts as soon as a tracer provider is installed: a
second server span per request at some 170 µs each, sampled or not. The request
middleware makes the one server span (`mongoshop.observability.tracing.server_span`)."""

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def _lifespan(
    settings: Settings,
    metrics: Metrics | None,
    *,
    run_worker: bool,
    embedded: EmbeddedServer | None,
) -> Lifespan:
    """Open the shop and start the loops (`ApiLoops`) before the first request; stop them
    and close the client once uvicorn has answered the requests in flight."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        caches = ApiCaches.from_settings(settings)
        async with open_async_shop(
            settings,
            command_latency=metrics.command_duration if metrics else None,
            caches=caches.for_shop(),
        ) as shop:
            loops = ApiLoops(shop)
            try:
                await shop.bootstrap_admin()
                app.state.write_watch = watch = loops.watch_writes(embedded)
                app.state.schema_watch = loops.watch_schema()
                loops.consume(caches.invalidation(shop))
                if run_worker:
                    await loops.start_worker(metrics)
                if metrics is not None:
                    loops.show(metrics, watch)
                # The dashboards' figures and the common broad listings, computed in the
                # background if missing or due: the first visitors read them at once.
                await shop.analytics.warm_up()
                loops.warm_listings()
                app.state.shop = shop
                logger.info("mongoshop API ready on database %s", settings.mongodb_database)
                yield
            finally:
                await loops.stop()
        logger.info("mongoshop API stopped, database client closed")

    return lifespan


def create_app(
    settings: Settings | None = None,
    *,
    run_worker: bool = False,
    embedded: EmbeddedServer | None = None,
) -> FastAPI:
    """A new application; with no settings, they are read from the environment.

    `run_worker` also runs the event worker (change streams → mail outbox →
    sender) in this process, as ``mongoshop serve`` does by default.
    `embedded`: the embedded server this process started, which the write watch
    restarts when writes stall (`mongoshop.worker.write_watch`).
    """
    settings = settings or get_settings()
    metrics = (
        Metrics(count_seconds=settings.metrics_count_seconds) if settings.metrics_enabled else None
    )

    app = FastAPI(
        title="mongoshop",
        version=__version__,
        summary="A shop backend on MongoDB: accounts, catalog, orders, wallets.",
        lifespan=_lifespan(settings, metrics, run_worker=run_worker, embedded=embedded),
        **NO_NATIVE_TELEMETRY,
    )
    install_error_handlers(app)
    install_middleware(app, settings)
    install_openapi(app, settings)
    # Outermost: the request id is set before any other middleware runs (their logs carry
    # it), and what they answer themselves (413, 429...) is counted.
    app.add_middleware(RequestObserver, metrics=metrics)
    app.state.metrics = metrics
    if metrics is not None:
        app.include_router(metrics_route.router)
    for module in (health, auth, users, products, wallet, orders, admin, webhooks, dashboard):
        app.include_router(module.router)
    dashboard.mount_assets(app)
    return app
