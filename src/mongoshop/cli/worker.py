"""`mongoshop worker`: the event worker alone (for deployments that run it separately)."""

from __future__ import annotations

import asyncio
import signal

from mongoshop._async.shop import AsyncShop
from mongoshop.cli.common import console, settings_from_env
from mongoshop.db import create_async_client, require_replica_set, resolve_uri
from mongoshop.events.worker import EventWorker
from mongoshop.observability import configure_logging
from mongoshop.settings import Settings


async def run_worker(settings: Settings, uri: str) -> None:
    client = create_async_client(uri, settings)
    try:
        require_replica_set(await client.admin.command("hello"))
        shop = AsyncShop(client[settings.mongodb_database], settings)
        await shop.ensure_indexes()
        worker = EventWorker(shop)
        main = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: main.cancel() if main else None)
        await worker.start()
        console.print("event worker running (Ctrl-C to stop)")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            console.print("stopping the event worker")
        finally:
            await worker.stop()
    finally:
        await client.close()


def worker() -> None:
    """Watch users and orders, enqueue welcome and order e-mails, and send them.

    Several workers may run at once: each e-mail is still sent once. Without
    MONGOSHOP_SMTP_HOST, e-mails are written as .eml files in
    MONGOSHOP_DATA_DIR/mail.

    Example: mongoshop worker
    """
    settings = settings_from_env()
    configure_logging(settings.log_format, settings.log_level)
    with resolve_uri(settings) as uri:
        asyncio.run(run_worker(settings, uri))
