"""What every command shares: settings, a database on the sync face, and output."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

from rich.console import Console

from mongoshop._sync.shop import Shop
from mongoshop.db import create_sync_client, require_supported_server, resolve_uri
from mongoshop.settings import Settings, load_settings

console = Console()
err_console = Console(stderr=True)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so `with` blocks run and the embedded server is stopped.

    Uvicorn re-raises the signal that stopped it once it has shut down; with
    the default handler that would kill us before our clean-up.
    """
    signal.signal(signal.SIGTERM, _raise_interrupt)


def settings_from_env() -> Settings:
    return load_settings()


@contextlib.contextmanager
def open_shop(settings: Settings) -> Iterator[Shop]:
    """A `Shop` on the configured database (or the embedded one), indexes ensured."""
    with resolve_uri(settings) as uri:
        client = create_sync_client(uri, settings)
        try:
            require_supported_server(client.admin.command("hello"))
            shop = Shop(client[settings.mongodb_database], settings)
            shop.ensure_indexes()
            yield shop
        finally:
            client.close()
