"""`GET /metrics` for a worker that runs on its own (`mongoshop worker --metrics-port`).

`mongoshop serve` shows its in-process worker's change-stream lag and the
outbox on its own `/metrics`; a worker deployed alone has no API, so it
serves the same route (same handler, same token rule) on a port of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from mongoshop._async.shop import AsyncShop
from mongoshop.errors import ConfigurationError
from mongoshop.http.errors import install_error_handlers
from mongoshop.http.protocol import JsonErrorsProtocol
from mongoshop.observability import Metrics
from mongoshop.observability import route as metrics_route
from mongoshop.settings import Settings


def metrics_app(shop: AsyncShop, metrics: Metrics) -> FastAPI:
    """An app with only `GET /metrics` (no docs, no schema)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.shop = shop
    app.state.metrics = metrics
    install_error_handlers(app)
    app.include_router(metrics_route.router)
    return app


class _QuietSignals(uvicorn.Server):
    """Uvicorn inside a process whose signals belong to the worker: stopped by `stop()`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class MetricsServer:
    def __init__(self, app: FastAPI, host: str, port: int, settings: Settings) -> None:
        """The same socket rules as the API's (`mongoshop serve`): a client that sends its
        request too slowly is cut off, and past MONGOSHOP_MAX_CONNECTIONS new ones are
        refused, so no slow or idle peer holds the worker's sockets for ever."""
        self.address = f"{host}:{port}"
        self._host, self._port = host, port
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            log_level=None,
            access_log=False,
            http=JsonErrorsProtocol.with_deadlines(
                settings.request_head_timeout_seconds, settings.request_body_timeout_seconds
            ),
            limit_concurrency=settings.max_connections,
        )
        self._server = _QuietSignals(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listening when this returns; `ConfigurationError` if the address cannot be bound.

        The socket is bound here rather than by uvicorn, which answers a port in use
        with `sys.exit` (a `SystemExit` escaping the event loop).
        """
        try:
            sock = socket.create_server((self._host, self._port))
        except OSError as exc:
            raise ConfigurationError(
                f"cannot serve metrics on {self.address}: {exc.strerror or exc}"
            ) from None
        self._task = asyncio.create_task(self._server.serve([sock]), name="metrics-server")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise ConfigurationError(f"cannot serve metrics on {self.address}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None
