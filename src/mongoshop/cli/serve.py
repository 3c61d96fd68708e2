"""`mongoshop serve`: the API, on the embedded database unless MONGODB_URI is set."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from mongoshop._sync.shop import Shop
from mongoshop.api.app import create_app
from mongoshop.cli.common import (
    console,
    open_shop,
    seed_with_bars,
    settings_from_env,
    stop_on_sigterm,
)
from mongoshop.db.embedded import EmbeddedServer
from mongoshop.http.protocol import JsonErrorsProtocol
from mongoshop.observability import configure_logging
from mongoshop.observability.tracing import configure_tracing, shutdown_tracing
from mongoshop.settings import Settings

DEMO_ADMIN_FILE = "demo-admin.json"
DEMO_ADMIN_EMAIL = "admin@mongoshop.example"
DEMO_USERS = 200
DEMO_PRODUCTS = 120
DEMO_ORDERS = 600


def demo_admin(shop: Shop, data_dir: Path) -> tuple[str, str]:
    """The demo admin's credentials, created once and kept (mode 600) in the data directory."""
    path = data_dir / DEMO_ADMIN_FILE
    try:
        saved = json.loads(path.read_text())
        email, password = str(saved["email"]), str(saved["password"])
    except (FileNotFoundError, ValueError, KeyError):
        email, password = DEMO_ADMIN_EMAIL, secrets.token_urlsafe(12)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"email": email, "password": password}, handle)
    if shop.users.find_by_email(email) is None:
        shop.users.create_admin(email=email, password=password, name="Demo Admin")
    return email, password


def prepare(settings: Settings, demo: bool) -> list[str]:
    """Indexes, admin and demo data before the server starts; lines to print."""
    lines = []
    with open_shop(settings) as shop:
        shop.bootstrap_admin()
        if settings.admin_email:
            lines.append(f"admin: {settings.admin_email} (password from MONGOSHOP_ADMIN_PASSWORD)")
        if demo:
            # The password stays in its file (mode 600): a console is often a log that
            # others read (a CI job, a journal, a shared terminal).
            email, _ = demo_admin(shop, settings.data_dir)
            where = (settings.data_dir / DEMO_ADMIN_FILE).resolve()
            lines.append(f"demo admin: {email} (password in {where}, readable by you only)")
            if shop.repositories.orders.count() == 0:
                report = seed_with_bars(
                    shop, users=DEMO_USERS, products=DEMO_PRODUCTS, orders=DEMO_ORDERS, seed=1
                )
                lines.extend(report.lines())
            lines.append("demo users: any seeded e-mail (see GET /users) / demo-password")
        elif not settings.admin_email:
            lines.append("no admin configured: mongoshop users create-admin --email … --password …")
    return lines


def wants_demo(settings: Settings, asked: bool | None) -> bool:
    """Demo admin and data: as asked (--demo / --no-demo); by default only for a local
    try-out on the embedded database, never in production."""
    if asked is not None:
        return asked
    return settings.embedded and settings.environment != "production"


def proxy_options(settings: Settings) -> dict[str, Any]:
    """Whose forwarding headers uvicorn believes: only `MONGOSHOP_TRUSTED_PROXIES`.

    Uvicorn's own default believes ``X-Forwarded-For`` from 127.0.0.1, so any local
    client could name its own address, and with it its sign-in throttling key.
    """
    proxies = [entry.strip() for entry in settings.trusted_proxies.split(",") if entry.strip()]
    if not proxies:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": proxies}


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8000,
    demo: Annotated[
        bool | None,
        typer.Option(
            "--demo/--no-demo",
            help=(
                "Create a demo admin and demo data "
                "(default: on with the embedded database, off in production)"
            ),
        ),
    ] = None,
    run_worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Run the event worker (welcome and order e-mails) in this process",
        ),
    ] = True,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request (uvicorn)")
    ] = True,
) -> None:
    """Start the HTTP API (and the embedded database when MONGODB_URI is unset).

    Examples:
      mongoshop serve
      mongoshop serve --host 0.0.0.0 --port 8080 --no-demo --no-worker
    """
    settings = settings_from_env()
    configure_logging(settings.log_format, settings.log_level)
    demo = wants_demo(settings, demo)
    stop_on_sigterm()
    with contextlib.ExitStack() as stack:
        if configure_tracing("mongoshop-api"):
            stack.callback(shutdown_tracing)  # last: the spans of the shutdown are sent too
        server: EmbeddedServer | None = None
        if settings.embedded:
            server = stack.enter_context(EmbeddedServer(settings.data_dir))
            console.print(
                f"embedded database: {server.uri} (data in {server.data_dir})", soft_wrap=True
            )
            settings = settings.model_copy(update={"mongodb_uri": server.uri})
        for line in prepare(settings, demo):
            # Not wrapped: a path cut in two cannot be copied (nor read by a script).
            console.print(line, soft_wrap=True)
        console.print(f"mongoshop API: [bold]http://{host}:{port}[/bold]  (docs: /docs)")
        if run_worker:
            where = settings.smtp_host or f"{settings.data_dir.resolve() / 'mail'} (.eml files)"
            console.print(f"event worker: on; e-mails go to {where}", soft_wrap=True)
        app = create_app(settings, run_worker=run_worker, embedded=server)
        # log_config=None: uvicorn's loggers keep the handler configure_logging installed.
        # On SIGTERM uvicorn stops accepting, answers the requests in flight (for at most
        # the timeout), then runs the app's shutdown: worker stopped, client closed.
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=None,
            log_level=None,
            access_log=access_log,
            timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
            http=JsonErrorsProtocol.with_deadlines(
                settings.request_head_timeout_seconds, settings.request_body_timeout_seconds
            ),
            limit_concurrency=settings.max_connections,
            **proxy_options(settings),
        )
