"""`GET /health`: the database's ping and the write watch's verdict, in one answer."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from pymongo.errors import ServerSelectionTimeoutError

from mongoshop.api.routers import health
from mongoshop.errors import ConfigurationError
from mongoshop.worker.schema_watch import SchemaWatch
from mongoshop.worker.write_watch import WriteWatch


class Shop:
    def __init__(self) -> None:
        self.reachable = True

    async def ping(self) -> None:
        if not self.reachable:
            raise ServerSelectionTimeoutError("no server")


class Collection:
    def __init__(self, name: str) -> None:
        self.collection_name = name
        self.failing = False

    async def probe_write(self) -> None:
        if self.failing:
            raise ServerSelectionTimeoutError("timed out")


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Parts:
    app: FastAPI
    shop: Shop
    products: Collection
    watch: WriteWatch
    clock: Clock

    async def get(self) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/health")


@pytest.fixture
def parts() -> Parts:
    app = FastAPI()
    app.include_router(health.router)
    shop, products, clock = Shop(), Collection("products"), Clock()
    watch = WriteWatch(
        [products],  # type: ignore[list-item]
        every=10,
        timeout=2,
        stall_seconds=30,
        clock=clock,
    )
    app.state.shop = shop
    app.state.write_watch = watch
    return Parts(app, shop, products, watch, clock)


async def test_before_the_first_probe_the_writes_are_unchecked(parts: Parts) -> None:
    response = await parts.get()
    assert response.status_code == 200
    assert response.json()["writes"] == "unchecked"


async def test_writes_failing_for_less_than_the_stall_time_are_reported_not_fatal(
    parts: Parts,
) -> None:
    parts.products.failing = True
    await parts.watch.check()
    response = await parts.get()
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "writes": "failing",
        "stalled_collections": [],
        "code": "current",
    }


async def test_stalled_writes_answer_503_naming_the_collection(parts: Parts) -> None:
    parts.products.failing = True
    await parts.watch.check()
    parts.clock.now += 30
    response = await parts.get()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json() == {
        "status": "unavailable",
        "database": "ok",
        "writes": "stalled",
        "stalled_collections": ["products"],
        "code": "current",
    }
    parts.products.failing = False
    await parts.watch.check()
    assert (await parts.get()).json()["writes"] == "ok"


async def test_a_database_that_does_not_answer_is_503(parts: Parts) -> None:
    await parts.watch.check()
    parts.shop.reachable = False
    response = await parts.get()
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


async def test_a_process_whose_code_a_newer_migration_outdated_is_unhealthy(parts: Parts) -> None:
    """Issue 21 #10: the load balancer takes it out, its supervisor replaces it."""

    async def applied() -> list[dict[str, object]]:
        return [{"number": 9999}]

    def check(records: object) -> None:
        raise ConfigurationError("the database has migration 9999 applied")

    watch = SchemaWatch(applied, check)
    parts.app.state.schema_watch = watch
    assert (await parts.get()).json()["code"] == "current"

    await watch.check_now()

    response = await parts.get()
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["code"] == "outdated"
    assert "9999" not in response.text, "the reason is logged, not told to anyone asking"
