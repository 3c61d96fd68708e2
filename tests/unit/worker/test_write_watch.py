"""The write watch's rules, over fake collections and a clock the test moves."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo.errors import NetworkTimeout

from mongoshop.worker.write_watch import RESTART_GAP, WriteWatch


class Collection:
    """A repository as the watch sees it: a name and a probe that works or does not."""

    def __init__(self, name: str) -> None:
        self.collection_name = name
        self.failing = False
        self.probes = 0

    async def probe_write(self) -> None:
        self.probes += 1
        if self.failing:
            raise NetworkTimeout("timed out")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Restarts:
    def __init__(self, collections: list[Collection]) -> None:
        self.collections = collections
        self.count = 0

    async def __call__(self) -> None:
        self.count += 1
        for collection in self.collections:  # a restart ends the stall
            collection.failing = False


def watch_of(
    collections: list[Collection], clock: Clock, restart: Any = None, stall: float = 30.0
) -> WriteWatch:
    return WriteWatch(
        collections,  # type: ignore[arg-type]
        every=10,
        timeout=2,
        stall_seconds=stall,
        restart=restart,
        clock=clock,
    )


async def test_collections_that_take_writes_are_reported_healthy() -> None:
    products, orders = Collection("products"), Collection("orders")
    watch = watch_of([products, orders], Clock())
    assert not watch.checked

    assert await watch.check() == []

    assert watch.checked
    assert watch.stalled() == []
    assert set(watch.seconds) == {"products", "orders"}
    assert all(seconds is not None for seconds in watch.seconds.values())


async def test_a_collection_is_stalled_once_its_writes_have_failed_for_the_stall_time() -> None:
    products, orders = Collection("products"), Collection("orders")
    clock = Clock()
    watch = watch_of([products, orders], clock)
    products.failing = True

    assert await watch.check() == []  # one failed probe is not a stall
    assert watch.seconds["products"] is None
    clock.now += 29
    assert await watch.check() == []
    clock.now += 1
    assert await watch.check() == ["products"]
    assert watch.stalled() == ["products"]

    products.failing = False
    assert await watch.check() == []
    assert watch.stalled() == []


async def test_a_stall_of_the_embedded_server_is_ended_by_one_restart() -> None:
    products = Collection("products")
    clock = Clock()
    restarts = Restarts([products])
    watch = watch_of([products], clock, restarts, stall=10)
    products.failing = True
    await watch.check()
    clock.now += 10

    assert await watch.check() == []  # restarted: no longer stalled

    assert restarts.count == 1
    assert watch.restarts == 1
    assert await watch.check() == []
    assert watch.seconds["products"] is not None


async def test_a_stall_that_a_restart_does_not_end_is_reported_not_restarted_again() -> None:
    products = Collection("products")
    clock = Clock()
    restarts = Restarts([])  # the restart does not help
    watch = watch_of([products], clock, restarts, stall=10)
    products.failing = True
    await watch.check()
    clock.now += 10
    await watch.check()
    assert restarts.count == 1
    await watch.check()
    clock.now += 10
    assert await watch.check() == ["products"]  # reported, not restarted in a loop
    assert restarts.count == 1
    clock.now += RESTART_GAP
    await watch.check()
    assert restarts.count == 2


async def test_without_a_server_to_restart_a_stall_is_reported() -> None:
    products = Collection("products")
    clock = Clock()
    watch = watch_of([products], clock, None, stall=5)
    products.failing = True
    await watch.check()
    clock.now += 5
    assert await watch.check() == ["products"]
    assert watch.restarts == 0


async def test_a_round_that_fails_does_not_end_the_watch() -> None:
    products = Collection("products")
    rounds = 0

    async def broken_restart() -> None:
        nonlocal rounds
        rounds += 1
        raise RuntimeError("the restart itself failed")

    watch = WriteWatch(
        [products],  # type: ignore[list-item]
        every=0.01,
        timeout=1,
        stall_seconds=0,
        restart=broken_restart,
    )
    products.failing = True
    task = asyncio.create_task(watch.run())
    await asyncio.sleep(0.2)
    assert not task.done(), "the watch ended on a failed round"
    assert products.probes > 3, "the watch stopped probing after the failure"
    watch.stop.request()
    await asyncio.wait_for(task, 5)
    assert rounds == 1  # once per RESTART_GAP, even when it fails


async def test_a_probe_that_fails_in_an_unforeseen_way_counts_as_failed() -> None:
    """A hostile or garbled answer (not a driver error) is that collection's failed probe:
    the other collections are still judged, and this one can still be found stalled."""

    class Garbled(Collection):
        async def probe_write(self) -> None:
            self.probes += 1
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "a reply that is not UTF-8")

    clock = Clock()
    products, orders = Garbled("products"), Collection("orders")
    watch = watch_of([products, orders], clock, stall=30)

    assert await watch.check() == []
    assert watch.seconds == {"products": None, "orders": 0.0}
    assert watch.failing_since == {"products": 1000.0}
    clock.now += 30
    assert await watch.check() == ["products"]
