"""The loops an API process runs beside its requests, started and stopped together.

The write and schema watches, the caches' invalidation stream, the listing
warmer and, under ``mongoshop serve``, the event worker: each supervised
(restarted if it ends unexpectedly), each stopped once the requests in flight
are answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from mongoshop._async.services.caching import REFRESH_TIMEOUT_SECONDS
from mongoshop._async.shop import AsyncShop
from mongoshop._async.warming import WARM_SECONDS, warm_listings
from mongoshop.db.embedded import EmbeddedServer
from mongoshop.observability import Metrics
from mongoshop.worker.chores import Chore
from mongoshop.worker.event_worker import EventWorker
from mongoshop.worker.graceful import StopRequest, stop_loops
from mongoshop.worker.schema_watch import SchemaWatch, schema_watch
from mongoshop.worker.streams import StreamConsumer, StreamSpec
from mongoshop.worker.supervision import Supervisor
from mongoshop.worker.write_watch import WriteWatch, write_watch


class ApiLoops:
    def __init__(self, shop: AsyncShop) -> None:
        self.shop = shop
        self.supervisor = Supervisor()
        self.consumers: list[StreamConsumer] = []
        """Every change stream of the process, the worker's included (their lag is shown)."""
        self.worker: EventWorker | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stops: list[StopRequest] = []

    def start(self, name: str, run: Callable[[], Awaitable[None]], stop: StopRequest) -> None:
        self._tasks.append(self.supervisor.start(name, run, stop))
        self._stops.append(stop)

    def watch_writes(self, embedded: EmbeddedServer | None) -> WriteWatch:
        """The probe of the database's writes (run when MONGOSHOP_WRITE_PROBE_SECONDS > 0)."""
        watch = write_watch(self.shop, embedded)
        if self.shop.settings.write_probe_seconds:
            self.start("write-watch", watch.run, watch.stop)
        return watch

    def watch_schema(self) -> SchemaWatch:
        schema = schema_watch(self.shop)
        self.start("schema-watch", schema.run, schema.stop)
        return schema

    def consume(self, spec: StreamSpec) -> None:
        consumer = StreamConsumer(
            spec,
            self.shop.repositories.checkpoints,
            step_timeout=self.shop.settings.operation_timeout_seconds,
        )
        self.consumers.append(consumer)
        self.start(spec.name, consumer.run, consumer.stop)

    async def start_worker(self, metrics: Metrics | None) -> None:
        self.worker = EventWorker(self.shop, observer=metrics)
        await self.worker.start()
        self.consumers.extend(self.worker.consumers)

    def warm_listings(self) -> None:
        """Keep the common broad listings computed (only where they are cached)."""
        if self.shop.settings.cache_ttl_seconds > 0:
            warmer = Chore(
                "listing-warmer",
                WARM_SECONDS,
                lambda: warm_listings(self.shop),
                round_seconds=REFRESH_TIMEOUT_SECONDS,
            )
            self.start(warmer.name, warmer.run, warmer.stop)

    def show(self, metrics: Metrics, watch: WriteWatch) -> None:
        metrics.track_streams(self.consumers)
        metrics.track_writes(watch)
        metrics.track_loops(self.supervisor)
        if self.worker is not None:
            metrics.track_loops(self.worker.supervisor)

    async def stop(self) -> None:
        """The worker first (its loops save their positions), then every other loop."""
        if self.worker is not None:
            await self.worker.stop()
        await stop_loops(self._tasks, self._stops)
