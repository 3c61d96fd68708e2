"""Client factories for both faces, built from one set of options.

There is no module-level client: the API's lifespan, the CLI's command and the
worker's ``main`` each create one after any fork, pass it down and close it.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Histogram
from pymongo import AsyncMongoClient, MongoClient
from pymongo.driver_info import DriverInfo
from pymongo.server_api import ServerApi

from mongoshop import __version__
from mongoshop.errors import ConfigurationError
from mongoshop.observability.commands import CommandMonitor
from mongoshop.settings import Settings

Document = dict[str, Any]


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments shared by `MongoClient` and `AsyncMongoClient`."""
    options: dict[str, Any] = {
        "tz_aware": True,
        "maxPoolSize": settings.max_pool_size,
        "minPoolSize": settings.min_pool_size,
        "serverSelectionTimeoutMS": settings.server_selection_timeout_ms,
        "connectTimeoutMS": settings.connect_timeout_ms,
        "socketTimeoutMS": settings.socket_timeout_ms,
        "retryReads": settings.retry_reads,
        "retryWrites": settings.retry_writes,
        "appname": "mongoshop",
        "driver": DriverInfo(name="mongoshop", version=__version__),
    }
    if settings.server_api_version is not None:
        options["server_api"] = ServerApi(settings.server_api_version, strict=False)
    return options


def command_monitor(settings: Settings, latency: Histogram | None = None) -> CommandMonitor:
    """The listener every client gets: slow commands logged, latency observed if asked."""
    return CommandMonitor(settings.slow_command_ms, latency)


def create_async_client(
    uri: str, settings: Settings, *, command_latency: Histogram | None = None
) -> AsyncMongoClient[Document]:
    """The async face's client (API and worker). Connects lazily.

    `command_latency`: a histogram (``command`` label) that times every command.
    """
    return AsyncMongoClient(
        uri,
        event_listeners=[command_monitor(settings, command_latency)],
        **client_options(settings),
    )


def create_sync_client(
    uri: str, settings: Settings, *, command_latency: Histogram | None = None
) -> MongoClient[Document]:
    """The sync face's client (CLI and batch jobs). Connects lazily."""
    return MongoClient(
        uri,
        event_listeners=[command_monitor(settings, command_latency)],
        **client_options(settings),
    )


MIN_WIRE_VERSION = 8
"""MongoDB 4.2: multi-document transactions on replica sets (4.0), change streams that
resume from a token, and the pipeline updates of the sign-in throttle (4.2)."""


def require_supported_server(hello: Document) -> None:
    """Refuse, with one line, a server mongoshop cannot run on correctly.

    A standalone server has no transactions or change streams. A sharded cluster
    (mongos) is refused too, for now: a cancellation updates an order by ``_id``
    alone and the import can upsert products by name, neither of which carries
    the shard key docs/scaling.md chooses for those collections.
    A server older than MongoDB 4.2 lacks what `MIN_WIRE_VERSION` names.
    """
    if hello.get("msg") == "isdbgrid":
        raise ConfigurationError(
            "MONGODB_URI points at a sharded cluster (mongos), which mongoshop does not "
            "support yet; use a replica set or Atlas replica set (see docs/scaling.md)"
        )
    if not hello.get("setName"):
        raise ConfigurationError(
            "MONGODB_URI points at a standalone server; mongoshop needs a replica set "
            "(or Atlas) for transactions and change streams"
        )
    wire = hello.get("maxWireVersion")
    if not isinstance(wire, int) or wire < MIN_WIRE_VERSION:
        raise ConfigurationError(
            f"MONGODB_URI points at a server too old for mongoshop (wire version {wire}); "
            "it needs MongoDB 4.2 or newer for transactions, change streams and pipeline updates"
        )
