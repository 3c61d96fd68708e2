"""The FastAPI application: built by `create_app`, wired in its lifespan.

The client is created in the lifespan (so after any fork of a uvicorn worker),
passed to `AsyncShop`, and closed on shutdown. Nothing connects at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from mongoshop import __version__
from mongoshop._async.services.caching import REFRESH_TIMEOUT_SECONDS
from mongoshop._async.warming import WARM_SECONDS, warm_listings
from mongoshop.api.caches import ApiCaches
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
from mongoshop.worker.chores import Chore
from mongoshop.worker.event_worker import EventWorker
from mongoshop.worker.graceful import StopRequest, stop_loops
from mongoshop.worker.schema_watch import schema_watch
from mongoshop.worker.streams import StreamConsumer
from mongoshop.worker.supervision import Supervisor
from mongoshop.worker.write_watch import write_watch

logger = logging.getLogger(__name__)


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

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        caches = ApiCaches.from_settings(settings)
        background: list[asyncio.Task[None]] = []
        stops: list[StopRequest] = []
        consumers: list[StreamConsumer] = []
        worker: EventWorker | None = None
        supervisor = Supervisor()
        async with open_async_shop(
            settings,
            command_latency=metrics.command_duration if metrics else None,
            caches=caches.for_shop(),
        ) as shop:
            try:
                await shop.bootstrap_admin()
                watch = write_watch(shop, embedded)
                app.state.write_watch = watch
                if settings.write_probe_seconds:
                    background.append(supervisor.start("write-watch", watch.run, watch.stop))
                    stops.append(watch.stop)
                schema = schema_watch(shop)
                app.state.schema_watch = schema
                background.append(supervisor.start("schema-watch", schema.run, schema.stop))
                stops.append(schema.stop)
                spec = caches.invalidation(shop)
                consumer = StreamConsumer(
                    spec,
                    shop.repositories.checkpoints,
                    step_timeout=settings.operation_timeout_seconds,
                )
                consumers.append(consumer)
                background.append(supervisor.start(spec.name, consumer.run, consumer.stop))
                if run_worker:
                    worker = EventWorker(shop, observer=metrics)
                    await worker.start()
                    consumers.extend(worker.consumers)
                if metrics is not None:
                    metrics.track_streams(consumers)
                    metrics.track_writes(watch)
                    metrics.track_loops(supervisor)
                    if worker is not None:
                        metrics.track_loops(worker.supervisor)
                # The dashboards' figures and the common broad listings, computed in the
                # background if missing or due: the first visitors read them at once.
                await shop.analytics.warm_up()
                if settings.cache_ttl_seconds > 0:
                    warmer = Chore(
                        "listing-warmer",
                        WARM_SECONDS,
                        lambda: warm_listings(shop),
                        round_seconds=REFRESH_TIMEOUT_SECONDS,
                    )
                    background.append(supervisor.start(warmer.name, warmer.run, warmer.stop))
                    stops.append(warmer.stop)
                app.state.shop = shop
                logger.info("mongoshop API ready on database %s", settings.mongodb_database)
                yield
            finally:
                # Uvicorn calls this once the requests in flight are answered.
                if worker is not None:
                    await worker.stop()
                await stop_loops(background, [*stops, *(consumer.stop for consumer in consumers)])
        logger.info("mongoshop API stopped, database client closed")

    app = FastAPI(
        title="mongoshop",
        version=__version__,
        summary="A shop backend on MongoDB: accounts, catalog, orders, wallets.",
        lifespan=lifespan,
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
