"""The worker's own `/metrics` server (`mongoshop worker --metrics-port`) holds no socket
for ever either: the API's head deadline and connection limit apply to it (issue 21 #7)."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx

from mongoshop._async.shop import AsyncShop
from mongoshop.observability import Metrics
from mongoshop.worker.metrics_server import MetricsServer, metrics_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_silent_client_of_the_workers_metrics_is_cut_off(ashop: AsyncShop) -> None:
    settings = ashop.settings.model_copy(
        update={"request_head_timeout_seconds": 1.0, "max_connections": 4}
    )
    port = free_port()
    server = MetricsServer(metrics_app(ashop, Metrics()), "127.0.0.1", port, settings)
    await server.start()
    try:
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{port}/metrics")
        assert answer.status_code == 200
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        closed = await asyncio.wait_for(reader.read(), 10)  # sends nothing, waits for EOF
        waited = time.monotonic() - started
        writer.close()
    finally:
        await server.stop()
    assert closed == b""
    assert 0.5 < waited < 5, f"closed after {waited:.1f} s"
