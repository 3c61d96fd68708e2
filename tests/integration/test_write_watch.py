"""The write watch on a real server: its probe changes nothing, writes that hang are
reported, and a stalled embedded server this process started is restarted, keeping
every write it acknowledged."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from mongoshop._async.repositories.base import NO_SUCH_ID
from mongoshop._async.shop import AsyncShop
from mongoshop.bootstrap import open_async_shop
from mongoshop.db import EmbeddedServer
from mongoshop.models.common import Document
from mongoshop.settings import Settings
from mongoshop.worker.write_watch import WriteWatch, write_watch
from tests.integration.helpers import Faulty, Products


async def test_a_probe_goes_through_every_collection_and_changes_nothing(
    ashop: AsyncShop,
) -> None:
    await Products(ashop).create(quantity=3)
    before = {
        repository.collection_name: await repository.collection.count_documents({})
        for repository in ashop.repositories.all()
    }
    watch = write_watch(ashop)

    assert await watch.check() == []

    assert set(watch.seconds) == set(before)
    for repository in ashop.repositories.all():
        name = repository.collection_name
        assert await repository.collection.count_documents({}) == before[name], name
        assert await repository.collection.find_one({"_id": NO_SUCH_ID}) is None, name


async def _block_updates(admin: AsyncMongoClient[Document], app_name: str | None) -> None:
    data: Document = {"failCommands": ["update"], "blockConnection": True, "blockTimeMS": 1500}
    if app_name is not None:
        data["appName"] = app_name
    try:
        await admin.admin.command("configureFailPoint", "failCommand", mode="alwaysOn", data=data)
    except OperationFailure as exc:
        pytest.skip(f"the server refuses configureFailPoint (enableTestCommands): {exc}")


async def test_writes_that_hang_are_reported_until_they_complete_again(faulty: Faulty) -> None:
    shop = faulty.shop
    watch = WriteWatch(
        [shop.repositories.products, shop.repositories.orders],
        every=1,
        timeout=0.5,
        stall_seconds=0,
    )
    await _block_updates(faulty.admin_client, faulty.app_name)
    try:
        assert await watch.check() == ["orders", "products"]
        assert watch.seconds == {"orders": None, "products": None}
    finally:
        await faulty.admin_client.admin.command("configureFailPoint", "failCommand", mode="off")
    await asyncio.sleep(1.5)  # the blocked probes end on the server
    assert await watch.check() == []


async def test_a_stalled_embedded_server_is_restarted_and_keeps_what_it_acknowledged(
    base_settings: Settings, tmp_path: Path
) -> None:
    server = EmbeddedServer(tmp_path / "db", extra_args=["--enable-test-commands"])
    with server:
        first_port = server.port
        settings = base_settings.model_copy(
            update={"mongodb_uri": server.uri, "mongodb_database": "watched"}
        )
        async with open_async_shop(settings) as shop:
            product = await Products(shop).create(quantity=7, name="Kept Lamp")
            watch = write_watch(shop, server)
            assert watch.restart is not None
            quick = WriteWatch(
                shop.repositories.all(),
                every=1,
                timeout=0.5,
                stall_seconds=0,
                restart=watch.restart,
            )
            await _block_updates(shop.database.client, None)

            assert await quick.check() == []  # stalled, then ended by the restart

            assert quick.restarts == 1
            assert server.port == first_port
            # The failpoint went with the old process. A server just started on a loaded
            # machine may take more than the probes' half second for its first writes:
            # give it time (a failpoint still there would fail every probe for ever).
            deadline = time.monotonic() + 30
            failing = await quick.check()
            for _ in range(60):
                if not failing or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
                failing = await quick.check()
            assert failing == []
            assert quick.restarts == 1  # one restart was enough
            assert all(seconds is not None for seconds in quick.seconds.values())
            kept = await shop.repositories.products.get(product.id)
            assert kept.name == "Kept Lamp"
            assert kept.inventory.quantity == 7
            await shop.catalog.change_inventory(str(product.id), 1)
            assert (await shop.repositories.products.get(product.id)).inventory.quantity == 8


async def test_a_server_this_process_did_not_start_is_never_restarted(ashop: AsyncShop) -> None:
    attached = EmbeddedServer(Path("/nonexistent"))  # not started by this process
    assert write_watch(ashop, attached).restart is None
    assert write_watch(ashop).restart is None
