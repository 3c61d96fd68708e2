"""Webhook delivery by real `mongoshop worker` processes: SIGKILL, two at once, and the
CLI's redrive of deliveries that outlived their retry budget."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from mongoshop._async.shop import AsyncShop
from mongoshop.models.orders import OrderItemRequest, OrderRequest
from mongoshop.models.webhooks import DeliveryStatus, EventType
from mongoshop.settings import Settings
from mongoshop.worker.event_streams import ORDERS_STREAM
from tests.integration.helpers import Customers, Products, cli_env
from tests.integration.webhooks.conftest import Subscribe, eventually
from tests.integration.webhooks.receiver import Answer, Receiver
from tests.integration.worker.conftest import WorkerProcess

MONGOSHOP = Path(sys.executable).with_name("mongoshop")


def worker_environment(
    settings: Settings, uri: str, tmp_path: Path, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGOSHOP_", "MONGODB_"))}
    env.update(cli_env(settings, uri, tmp_path))
    env.update(
        {
            "MONGOSHOP_TOKEN_SECRET": settings.token_secret.get_secret_value(),
            "MONGOSHOP_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
            "MONGOSHOP_WEBHOOK_TIMEOUT_SECONDS": "5",
            "MONGOSHOP_WEBHOOK_LEASE_SECONDS": "10",
            "MONGOSHOP_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
            "MONGOSHOP_WEBHOOK_MAX_BACKOFF_SECONDS": "1",
            "MONGOSHOP_SERVER_SELECTION_TIMEOUT_MS": "2000",
            **extra,
        }
    )
    return env


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        if worker.process is not None:
            worker.terminate()


def launch(started: list[WorkerProcess], env: dict[str, str], tmp_path: Path) -> WorkerProcess:
    worker = WorkerProcess(env, tmp_path / f"worker-{len(started)}.log")
    worker.start()
    started.append(worker)
    return worker


async def mongoshop(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A `mongoshop` command in a process of its own (off the event loop)."""
    return await asyncio.to_thread(
        subprocess.run,
        [str(MONGOSHOP), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def watching(shop: AsyncShop) -> None:
    """A new worker saves its streams' positions before it handles anything: from then on,
    no committed change escapes it."""

    async def saved() -> bool:
        return await shop.repositories.checkpoints.load(ORDERS_STREAM) is not None

    await eventually(saved, 30, "the worker to open its change streams")


async def place_orders(shop: AsyncShop, count: int) -> list[str]:
    buyer = await Customers(shop).one(balance=1_000_000)
    product = await Products(shop).create(quantity=count + 10)
    ids = []
    for _ in range(count):
        order, _ = await shop.orders.place(
            buyer.user,
            OrderRequest(items=[OrderItemRequest(product_id=str(product.id), quantity=1)]),
        )
        ids.append(str(order.id))
    return ids


def placed_order_ids(receiver: Receiver) -> Counter[str]:
    return Counter(a.body["data"]["id"] for a in receiver.accepted() if a.type == "order.placed")


async def test_a_worker_killed_mid_delivery_is_replaced_and_every_event_arrives_once(
    wshop: AsyncShop,
    wsettings: Settings,
    mongodb_uri: str,
    receiver: Receiver,
    subscribe: Subscribe,
    processes: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    hung: list[str] = []

    def script(event_id: str, before: int) -> Answer:
        if not hung:
            hung.append(event_id)
            return "hang:3"  # answered after the worker is dead: the documented repeat
        return 200

    receiver.script = script
    await subscribe(EventType.ORDER_PLACED)
    env = worker_environment(wsettings, mongodb_uri, tmp_path)
    first = launch(processes, env, tmp_path)
    await watching(wshop)
    orders = await place_orders(wshop, 5)
    await eventually(lambda: hung, 30, "the first attempt to be in flight")
    first.kill()
    killed_at = time.monotonic()

    second = launch(processes, env, tmp_path)
    await eventually(lambda: len(placed_order_ids(receiver)) == 5, 60, "all five orders")
    assert second.process is not None
    assert second.process.poll() is None
    accepted = placed_order_ids(receiver)
    assert sorted(accepted) == sorted(orders)
    assert set(accepted.values()) == {1}, "each order accepted once"
    arrivals = Counter(a.event_id for a in receiver.snapshot())
    assert arrivals[hung[0]] == 2, "the one in flight at the kill came again after its lease"
    # The worker's other deliverers (MONGOSHOP_WEBHOOK_DELIVERERS) may have had attempts
    # in flight too: only an event that first arrived before the kill may come again.
    first_arrival = {}
    for arrival in receiver.snapshot():
        first_arrival.setdefault(arrival.event_id, arrival.at)
    repeated = {event for event, count in arrivals.items() if count > 1}
    assert all(first_arrival[event] <= killed_at for event in repeated), arrivals
    assert all(count <= 2 for count in arrivals.values()), arrivals
    assert all(a.verified for a in receiver.snapshot())


async def test_two_workers_deliver_every_event_once_between_them(
    wshop: AsyncShop,
    wsettings: Settings,
    mongodb_uri: str,
    receiver: Receiver,
    subscribe: Subscribe,
    processes: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    receiver.script = lambda event_id, before: (
        500 if before == 0 and hash(event_id) % 3 == 0 else 200
    )
    subscription = await subscribe(EventType.ORDER_PLACED, EventType.ORDER_CANCELLED)
    env = worker_environment(wsettings, mongodb_uri, tmp_path)
    launch(processes, env, tmp_path)
    launch(processes, env, tmp_path)
    await watching(wshop)
    orders = await place_orders(wshop, 20)

    await eventually(lambda: len(placed_order_ids(receiver)) == 20, 90, "twenty orders")
    await asyncio.sleep(1)
    accepted = placed_order_ids(receiver)
    assert sorted(accepted) == sorted(orders)
    assert set(accepted.values()) == {1}
    # No attempt was made twice at once: the receiver saw exactly the recorded attempts.
    page = await wshop.webhooks.deliveries_of(subscription.id, limit=100)
    recorded = {d.event_id: d.attempts for d in page.items}
    assert Counter(a.event_id for a in receiver.snapshot()) == recorded
    assert {d.status for d in page.items} == {DeliveryStatus.DELIVERED}


async def test_a_receiver_down_past_the_retry_budget_is_dead_then_redriven_from_the_cli(
    wshop: AsyncShop,
    wsettings: Settings,
    mongodb_uri: str,
    receiver: Receiver,
    subscribe: Subscribe,
    processes: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    down = True
    receiver.script = lambda event_id, before: "drop" if down else 200
    subscription = await subscribe(EventType.ORDER_PLACED)
    env = worker_environment(wsettings, mongodb_uri, tmp_path, MONGOSHOP_WEBHOOK_MAX_ATTEMPTS="3")
    launch(processes, env, tmp_path)
    await watching(wshop)
    [order] = await place_orders(wshop, 1)

    async def dead() -> bool:
        page = await wshop.webhooks.deliveries_of(subscription.id, status=DeliveryStatus.DEAD)
        return bool(page.items)

    await eventually(dead, 30, "the delivery to die")
    [delivery] = (await wshop.webhooks.deliveries_of(subscription.id)).items
    assert delivery.attempts == 3
    assert len(receiver.snapshot()) == 3

    listed = await mongoshop(env, "webhooks", "deliveries", subscription.id, "--status", "dead")
    assert listed.returncode == 0, listed.stderr
    assert delivery.id in listed.stdout
    down = False
    redriven = await mongoshop(env, "webhooks", "redrive", delivery.id)
    assert redriven.returncode == 0, redriven.stderr
    assert "tried again now" in redriven.stdout
    await eventually(lambda: placed_order_ids(receiver), 30, "the redriven delivery")
    await asyncio.sleep(1)
    assert placed_order_ids(receiver) == {order: 1}
    again = await mongoshop(env, "webhooks", "redrive", delivery.id)
    assert again.returncode == 1
    assert "not dead" in again.stderr
