"""Connections to MongoDB: client factories, the embedded server, the topology check."""

from mongoshop.db.clients import (
    client_options,
    create_async_client,
    create_sync_client,
    require_supported_server,
)
from mongoshop.db.embedded import EmbeddedServer, resolve_uri

__all__ = [
    "EmbeddedServer",
    "client_options",
    "create_async_client",
    "create_sync_client",
    "require_supported_server",
    "resolve_uri",
]
