"""Issue 21 #10: a process started before a newer version migrated the database notices
it while it runs (it was checked only at start-up): `/health` answers 503, and
``mongoshop worker`` exits with code 3 instead of handling events with old rules."""

from __future__ import annotations

import asyncio

import pytest

from mongoshop._async.shop import AsyncShop
from mongoshop.cli.worker import OUTDATED_EXIT, run_worker
from mongoshop.clock import utcnow
from mongoshop.settings import Settings
from mongoshop.worker import schema_watch as schema_watch_module
from mongoshop.worker.schema_watch import schema_watch


async def apply_a_newer_migration(ashop: AsyncShop) -> None:
    """What a newer version's `mongoshop db migrate` leaves: a migration this code lacks."""
    await ashop.repositories.schema.collection.update_one(
        {"_id": "migrations"},
        {
            "$push": {
                "applied": {
                    "number": 9999,
                    "name": "from_the_future",
                    "checksum": "0" * 16,
                    "applied_at": utcnow(),
                }
            }
        },
        upsert=True,
    )


async def test_a_newer_migration_applied_while_running_makes_the_code_outdated(
    ashop: AsyncShop,
) -> None:
    told: list[str] = []
    watch = schema_watch(ashop, on_outdated=told.append)
    assert await watch.check_now() is None

    await apply_a_newer_migration(ashop)

    why = await watch.check_now()
    assert why is not None
    assert "9999 from_the_future" in why
    assert watch.outdated == why
    assert await watch.check_now() == why
    assert told == [why], "told once"


@pytest.fixture
def quick_schema_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema_watch_module, "SCHEMA_CHECK_SECONDS", 0.2)


async def test_the_worker_exits_with_code_3_once_its_code_is_outdated(
    ashop: AsyncShop, settings: Settings, mongodb_uri: str, quick_schema_checks: None
) -> None:
    running = asyncio.create_task(run_worker(settings, mongodb_uri))
    await asyncio.sleep(3)
    assert not running.done(), "the worker stopped while its code was current"

    await apply_a_newer_migration(ashop)

    assert await asyncio.wait_for(running, 60) == OUTDATED_EXIT
