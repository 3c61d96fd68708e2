"""The app's Prometheus metrics, in a registry of its own (never the global one).

Per request: a counter and a latency histogram by route template, method and
status. Per database command: a latency histogram by command name. At scrape
time: the mail outbox by status (three index-backed counts) and the lag of
each change stream this process consumes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import pymongo
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pymongo.errors import PyMongoError

from mongoshop.clock import utcnow
from mongoshop.models.mail import OutboxCounts
from mongoshop.models.webhooks import WebhookCounts


class LagSource(Protocol):
    """A change-stream consumer, as the lag gauge sees it (`mongoshop.worker.streams`)."""

    @property
    def name(self) -> str: ...

    def lag_seconds(self, now: datetime) -> float | None: ...


class WriteHealthSource(Protocol):
    """The write watch, as the metrics see it (`mongoshop.worker.write_watch`)."""

    @property
    def seconds(self) -> dict[str, float | None]: ...

    @property
    def restarts(self) -> int: ...

    def stalled(self) -> list[str]: ...


class LoopInfo(Protocol):
    """One supervised background loop (`mongoshop.worker.supervision.LoopState`)."""

    @property
    def name(self) -> str: ...

    @property
    def up(self) -> bool: ...

    @property
    def restarts(self) -> int: ...


class LoopSource(Protocol):
    """The loops a supervisor runs (`mongoshop.worker.supervision.Supervisor`)."""

    @property
    def loops(self) -> Sequence[LoopInfo]: ...


logger = logging.getLogger(__name__)

UNMATCHED_ROUTE = "unmatched"
"""The route label of a request no route matched (404s of arbitrary paths: one series)."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COMMAND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
WEBHOOK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
OUTBOX_COUNT_TIMEOUT = 2.0
"""Seconds the outbox counts may take at scrape time (the database may be down)."""


def route_label(scope: MutableMapping[str, Any]) -> str:
    """The matched route's template (``/users/{user_id}``), never the raw path."""
    template = getattr(scope.get("route"), "path_format", None)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


class StreamLagCollector(Collector):
    """Seconds each tracked change stream is behind, computed when scraped."""

    def __init__(self) -> None:
        self.consumers: list[LagSource] = []

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "mongoshop_change_stream_lag_seconds",
            "Seconds since the time up to which a change stream consumer has handled every"
            " event (its last event's cluster time, or its last empty poll when idle)",
            labels=["stream"],
        )
        now = utcnow()
        for consumer in self.consumers:
            lag = consumer.lag_seconds(now)
            if lag is not None:
                family.add_metric([consumer.name], lag)
        yield family


class WriteHealthCollector(Collector):
    """Each collection's last write probe, whether its writes are stalled, and the restarts
    of the embedded database that ended a stall; read from the watch when scraped."""

    def __init__(self) -> None:
        self.watches: list[WriteHealthSource] = []

    def collect(self) -> Iterator[Metric]:
        seconds = GaugeMetricFamily(
            "mongoshop_collection_write_probe_seconds",
            "How long the last write probe of a collection took (absent when it failed)",
            labels=["collection"],
        )
        stalled = GaugeMetricFamily(
            "mongoshop_collection_writes_stalled",
            "1 while a collection's writes have failed for MONGOSHOP_WRITE_STALL_SECONDS",
            labels=["collection"],
        )
        restarts = CounterMetricFamily(
            "mongoshop_embedded_database_restarts",
            "Restarts of the embedded database to end a stall of its writes",
        )
        for watch in self.watches:
            now_stalled = set(watch.stalled())
            for name, took in sorted(watch.seconds.items()):
                if took is not None:
                    seconds.add_metric([name], took)
                stalled.add_metric([name], 1.0 if name in now_stalled else 0.0)
            restarts.add_metric([], watch.restarts)
        yield seconds
        yield stalled
        if self.watches:
            yield restarts


class LoopCollector(Collector):
    """Whether each supervised background loop runs, and how often it was restarted."""

    def __init__(self) -> None:
        self.sources: list[LoopSource] = []

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "mongoshop_worker_loop_up",
            "1 while a background loop runs; 0 while it waits to be restarted after a failure",
            labels=["loop"],
        )
        restarts = CounterMetricFamily(
            "mongoshop_worker_loop_restarts",
            "Times a background loop ended unexpectedly and was started again",
            labels=["loop"],
        )
        for source in self.sources:
            for loop in source.loops:
                up.add_metric([loop.name], 1.0 if loop.up else 0.0)
                restarts.add_metric([loop.name], loop.restarts)
        yield up
        yield restarts


class Metrics:
    """Everything `/metrics` shows for one app."""

    def __init__(self, *, count_seconds: float = 0.0) -> None:
        """`count_seconds`: how long the queue counts taken at a scrape are reused
        (MONGOSHOP_METRICS_COUNT_SECONDS): they cost the database a few counts, and a
        scrape is open to anyone who reaches /metrics when no token is set."""
        self.count_seconds = count_seconds
        self._counted_at: dict[str, float] = {}
        self._counting = asyncio.Lock()
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        labels = ("route", "method", "status")
        self.requests = Counter(
            "mongoshop_http_requests",
            "HTTP requests answered, by route template, method and status",
            labels,
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "mongoshop_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template, method and status",
            labels,
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.command_duration = Histogram(
            "mongoshop_db_command_duration_seconds",
            "Database command round trips, by command name",
            ("command",),
            buckets=COMMAND_BUCKETS,
            registry=self.registry,
        )
        self.outbox_items = Gauge(
            "mongoshop_mail_outbox_items",
            "E-mails in the mail outbox, by status (counted when scraped)",
            ("status",),
            registry=self.registry,
        )
        self.webhook_attempts = Histogram(
            "mongoshop_webhook_attempt_duration_seconds",
            "Webhook delivery attempts (count and duration), by outcome: delivered, retry"
            " (it will be tried again) or dead",
            ("outcome",),
            buckets=WEBHOOK_BUCKETS,
            registry=self.registry,
        )
        self.webhook_latency = Histogram(
            "mongoshop_webhook_delivery_latency_seconds",
            "From an event's change to its delivery, retries included",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.webhook_deliveries = Gauge(
            "mongoshop_webhook_deliveries",
            "Webhook deliveries not yet made, by status: pending, held (paused endpoint),"
            " dead (counted when scraped)",
            ("status",),
            registry=self.registry,
        )
        self.webhook_paused = Gauge(
            "mongoshop_webhook_paused_subscriptions",
            "Webhook subscriptions paused, by an admin or after failing (counted when scraped)",
            registry=self.registry,
        )
        self.stream_lag = StreamLagCollector()
        self.registry.register(self.stream_lag)
        self.write_health = WriteHealthCollector()
        self.registry.register(self.write_health)
        self.loops = LoopCollector()
        self.registry.register(self.loops)
        self._request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, scope: MutableMapping[str, Any], status: int, seconds: float) -> None:
        """Count one answered request (called by the middleware; a dict lookup when warm)."""
        method = scope["method"]
        key = (route_label(scope), method if method in METHODS else OTHER_METHOD, status)
        series = self._request_series.get(key)
        if series is None:
            labels = (key[0], key[1], str(status))
            series = (self.requests.labels(*labels), self.request_duration.labels(*labels))
            self._request_series[key] = series
        series[0].inc()
        series[1].observe(seconds)

    def track_streams(self, consumers: Iterable[LagSource]) -> None:
        """Report these consumers' lag from now on."""
        self.stream_lag.consumers.extend(consumers)

    def track_writes(self, watch: WriteHealthSource) -> None:
        """Report this watch's probes from now on."""
        self.write_health.watches.append(watch)

    def track_loops(self, supervisor: LoopSource) -> None:
        """Report this supervisor's loops from now on."""
        self.loops.sources.append(supervisor)

    def _fresh(self, what: str) -> bool:
        """Whether `what` was counted less than `count_seconds` ago; else it is now due
        (the caller counts it, holding `_counting`: concurrent scrapes count once)."""
        now = time.monotonic()
        counted = self._counted_at.get(what)
        if counted is not None and now - counted < self.count_seconds:
            return True
        self._counted_at[what] = now
        return False

    async def refresh_outbox(self, counts: Callable[[], Awaitable[OutboxCounts]]) -> None:
        """Set the outbox gauge from the database (at most once per `count_seconds`);
        without an answer, drop it (never stale)."""
        async with self._counting:
            if self._fresh("outbox"):
                return
            await self._count_outbox(counts)

    async def _count_outbox(self, counts: Callable[[], Awaitable[OutboxCounts]]) -> None:
        try:
            with pymongo.timeout(OUTBOX_COUNT_TIMEOUT):
                current = await counts()
        except PyMongoError as exc:
            self.outbox_items.clear()
            logger.warning("mail outbox not counted for /metrics: %s", exc)
            return
        for status, count in current.model_dump().items():
            self.outbox_items.labels(status).set(count)

    def observe_webhook_attempt(self, outcome: str, seconds: float) -> None:
        self.webhook_attempts.labels(outcome).observe(seconds)

    def observe_webhook_delivered(self, latency: float) -> None:
        self.webhook_latency.observe(latency)

    async def refresh_webhooks(self, counts: Callable[[], Awaitable[WebhookCounts]]) -> None:
        """Set the webhook gauges from the database (at most once per `count_seconds`);
        without an answer, drop them."""
        async with self._counting:
            if self._fresh("webhooks"):
                return
            await self._count_webhooks(counts)

    async def _count_webhooks(self, counts: Callable[[], Awaitable[WebhookCounts]]) -> None:
        try:
            with pymongo.timeout(OUTBOX_COUNT_TIMEOUT):
                current = await counts()
        except PyMongoError as exc:
            self.webhook_deliveries.clear()
            self.webhook_paused.set(float("nan"))
            logger.warning("webhook deliveries not counted for /metrics: %s", exc)
            return
        for status in ("pending", "held", "dead"):
            self.webhook_deliveries.labels(status).set(getattr(current, status))
        self.webhook_paused.set(current.paused_subscriptions)

    def render(self) -> bytes:
        """The Prometheus text exposition of everything above."""
        return generate_latest(self.registry)
