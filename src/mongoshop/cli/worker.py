"""`mongoshop worker`: the event worker alone (for deployments that run it separately)."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from mongoshop.bootstrap import open_async_shop
from mongoshop.cli.common import console, settings_from_env
from mongoshop.db.embedded import EmbeddedServer
from mongoshop.observability import Metrics, configure_logging
from mongoshop.observability.tracing import configure_tracing, shutdown_tracing
from mongoshop.settings import Settings
from mongoshop.worker.event_worker import EventWorker
from mongoshop.worker.graceful import stop_loops
from mongoshop.worker.metrics_server import MetricsServer, metrics_app
from mongoshop.worker.schema_watch import schema_watch
from mongoshop.worker.write_watch import write_watch

OUTDATED_EXIT = 3
"""The worker's exit code once a newer version of the code has migrated the database."""


async def run_worker(
    settings: Settings,
    uri: str,
    metrics_host: str = "127.0.0.1",
    metrics_port: int = 0,
    *,
    embedded: EmbeddedServer | None = None,
) -> int:
    """Run until stopped; the process's exit code. `embedded`: the embedded server this
    process started, if it did (the write watch restarts it when its writes stall).

    Exits with `OUTDATED_EXIT` once a newer version of the code has migrated the
    database (`mongoshop.worker.schema_watch`): its supervisor then starts the new one.
    """
    metrics = Metrics(count_seconds=settings.metrics_count_seconds) if metrics_port else None
    metrics_server: MetricsServer | None = None
    async with open_async_shop(
        settings, uri=uri, command_latency=metrics.command_duration if metrics else None
    ) as shop:
        try:
            worker = EventWorker(shop, observer=metrics)
            watch = write_watch(shop, embedded)
            if metrics is not None:
                metrics.track_streams(worker.consumers)
                metrics.track_writes(watch)
                metrics.track_loops(worker.supervisor)
                metrics_server = MetricsServer(
                    metrics_app(shop, metrics), metrics_host, metrics_port, settings
                )
                await metrics_server.start()
                console.print(f"metrics: http://{metrics_server.address}/metrics")
            main = asyncio.current_task()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, lambda: main.cancel() if main else None)
            outdated: list[str] = []

            def leave(why: str) -> None:
                outdated.append(why)
                if main is not None:
                    main.cancel()

            schema = schema_watch(shop, on_outdated=leave)
            await worker.start()
            watching = [worker.supervisor.start("schema-watch", schema.run, schema.stop)]
            if settings.write_probe_seconds:
                watching.append(worker.supervisor.start("write-watch", watch.run, watch.stop))
            console.print("event worker running (Ctrl-C to stop)")
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                console.print("stopping the event worker")
            finally:
                await stop_loops(watching, [watch.stop, schema.stop])
                await worker.stop()
            if outdated:
                console.print(f"[red]stopped: {outdated[0]}[/red]", soft_wrap=True)
                return OUTDATED_EXIT
            return 0
        finally:
            if metrics_server is not None:
                await metrics_server.stop()


def worker(
    metrics_port: Annotated[
        int,
        typer.Option(
            min=0,
            max=65535,
            help="Serve GET /metrics (stream lag, outbox, database commands) on this port; 0: off",
        ),
    ] = 0,
    metrics_host: Annotated[str, typer.Option(help="Interface for --metrics-port")] = "127.0.0.1",
) -> None:
    """Watch users, orders, products and the ledger; send the e-mails and the webhooks.

    Several workers may run at once: each e-mail is still sent once, each webhook
    delivered once (but for a worker killed mid-request: see docs/webhooks.md). Without
    MONGOSHOP_SMTP_HOST, e-mails are written as .eml files in
    MONGOSHOP_DATA_DIR/mail. SIGTERM or Ctrl-C stops it at a safe point.

    Examples:
      mongoshop worker
      mongoshop worker --metrics-port 9108
    """
    settings = settings_from_env()
    configure_logging(settings.log_format, settings.log_level)
    configure_tracing("mongoshop-worker")
    try:
        if settings.mongodb_uri:
            code = asyncio.run(
                run_worker(settings, settings.mongodb_uri, metrics_host, metrics_port)
            )
        else:
            with EmbeddedServer(settings.data_dir) as server:
                code = asyncio.run(
                    run_worker(settings, server.uri, metrics_host, metrics_port, embedded=server)
                )
    finally:
        shutdown_tracing()
    if code:
        raise typer.Exit(code)
