"""Versioned migrations against the real server: once each under concurrency, resumable
after SIGKILL, refused when edited or when the database is ahead of the code."""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, MongoClient
from typer.testing import CliRunner

from mongoshop._sync.repositories.schema import MigrationRecords
from mongoshop._sync.shop import Shop
from mongoshop.bootstrap import open_shop
from mongoshop.cli.main import app
from mongoshop.clock import utcnow
from mongoshop.errors import ConfigurationError
from mongoshop.mail.documents import outbox_document
from mongoshop.migrations import MIGRATIONS
from mongoshop.migrations.runner import migrate
from mongoshop.models.common import Document
from mongoshop.models.mail import MailKind
from mongoshop.observability.commands import COMMAND_LOGGER
from mongoshop.settings import Settings
from tests.integration.helpers import cli_env

ROOT = Path(__file__).resolve().parents[2]
ITEMS = 100_000


def start(uri: str, database: str, migrations: str, batch: int = 500) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.migration_process",
            *(uri, database, migrations, str(batch)),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def peak_kib(output: str) -> int:
    (line,) = [line for line in output.splitlines() if line.startswith("peak_rss_kib=")]
    return int(line.split("=")[1])


def applied_numbers(shop: Shop) -> list[int]:
    return [record["number"] for record in MigrationRecords(shop.repositories.schema).applied()]


def test_three_processes_at_once_run_each_migration_exactly_once(
    shop: Shop, mongodb_uri: str
) -> None:
    processes = [start(mongodb_uri, shop.database.name, "counted") for _ in range(3)]

    outputs = [process.communicate(timeout=120)[0] for process in processes]

    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    runs = {d["_id"]: d["runs"] for d in shop.database["migration_runs"].find()}
    assert runs == {1: 1, 2: 1, 3: 1}
    assert applied_numbers(shop) == [1, 2, 3]
    # One process held the lease and ran all three; the others waited, then found none.
    (runner,) = [output for output in outputs if "applied 0001" in output]
    assert all(f"applied {number:04d}" in runner for number in (1, 2, 3))
    others = [output for output in outputs if output is not runner]
    assert all("no migration to run" in output for output in others), others
    assert shop.database["mongoshop_schema"].find_one({"_id": "migration-lease"}) is None


@pytest.fixture
def patient(mongodb_uri: str) -> Iterator[MongoClient[Document]]:
    """A client that waits for slow commands: dropping 100,000 documents takes the
    embedded server longer than the suite's socket timeout."""
    client: MongoClient[Document] = MongoClient(mongodb_uri, socketTimeoutMS=300_000)
    yield client
    client.close()


def test_a_backfill_killed_halfway_resumes_and_migrates_every_document_once(
    shop: Shop, mongodb_uri: str, patient: MongoClient[Document]
) -> None:
    """100,000 documents: SIGKILL a third of the way, start again, every one migrated once.

    The backfill's filter stops matching a document once it is migrated and its update
    counts `times`: a batch replayed after the kill would show as a 2. Memory is one
    batch of ids on the client (the runner holds no more), whatever the collection.
    """
    try:
        _killed_and_resumed(shop, mongodb_uri)
    finally:
        patient[shop.database.name].drop_collection("items")


STALL_SECONDS = 120
"""How long the backfill may go without saving progress before the test calls it stuck (the
machine may be slow, with the other tiers running: progress, not speed, is the test)."""


def _wait_for_a_third(process: subprocess.Popen[str], checkpoints: Any) -> None:
    last_id, moved_at = -1, time.monotonic()
    while True:
        found = checkpoints.find_one({"_id": "migration-checkpoint-0001"})
        reached = -1 if found is None else found["last_id"]
        if reached >= ITEMS // 3:
            return
        if reached > last_id:
            last_id, moved_at = reached, time.monotonic()
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() - moved_at < STALL_SECONDS, (
            f"the backfill made no progress for {STALL_SECONDS} s (at {last_id})"
        )
        time.sleep(0.05)


def _killed_and_resumed(shop: Shop, mongodb_uri: str) -> None:
    items = shop.database["items"]
    for first in range(0, ITEMS, 10_000):
        items.insert_many(
            [{"_id": n, "schema_version": 1, "times": 0} for n in range(first, first + 10_000)]
        )
    process = start(mongodb_uri, shop.database.name, "backfill", batch=1000)
    checkpoints = shop.database["mongoshop_schema"]
    try:
        _wait_for_a_third(process, checkpoints)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)

    halfway = items.count_documents({"schema_version": 2})
    assert ITEMS // 3 <= halfway < ITEMS
    assert applied_numbers(shop) == []
    resumed = start(mongodb_uri, shop.database.name, "backfill", batch=1000)
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, output
    # Memory follows the batch, not the collection: the same backfill over 1,000
    # documents peaks within a few MiB of this one over the 66,000 left (holding their
    # ids at once, some 66,000 small documents, would take roughly 15 MiB more).
    small = shop.database.client[f"{shop.database.name}_small"]
    try:
        small["items"].insert_many(
            [{"_id": n, "schema_version": 1, "times": 0} for n in range(1000)]
        )
        baseline = start(mongodb_uri, small.name, "backfill", batch=1000)
        baseline_output = baseline.communicate(timeout=120)[0]
        assert baseline.returncode == 0, baseline_output
    finally:
        shop.database.client.drop_database(small.name)
    assert peak_kib(output) <= peak_kib(baseline_output) + 10 * 1024, (output, baseline_output)
    assert items.count_documents({"schema_version": 2}) == ITEMS
    assert items.count_documents({"times": {"$ne": 1}}) == 0  # none migrated twice
    assert applied_numbers(shop) == [1]
    assert checkpoints.find_one({"_id": "migration-checkpoint-0001"}) is None


def test_the_shipped_migration_drops_mongoshops_old_indexes_and_nothing_else(
    shop: Shop,
) -> None:
    shop.database["products"].create_index([("price.amount", ASCENDING)], name="price")
    # Another owner's index under a name mongoshop once used, with other keys: it stays.
    shop.database["users"].create_index([("status", DESCENDING)], name="status_created")
    lines: list[str] = []

    ran = migrate(shop, MIGRATIONS, on_line=lines.append)

    assert [migration.number for migration in ran] == [1, 2, 3, 4]
    assert "price" not in shop.database["products"].index_information()
    assert "status_created" in shop.database["users"].index_information()
    assert applied_numbers(shop) == [1, 2, 3, 4]
    assert migrate(shop, MIGRATIONS, on_line=lines.append) == []
    assert lines[-1] == "no migration to run"


def test_a_dry_run_lists_what_would_run_and_runs_nothing(shop: Shop) -> None:
    lines: list[str] = []

    assert migrate(shop, MIGRATIONS, dry_run=True, on_line=lines.append) == []

    assert lines == [f"pending: {migration.label}" for migration in MIGRATIONS]
    assert applied_numbers(shop) == []


def test_an_applied_migration_that_was_edited_is_refused(shop: Shop) -> None:
    MigrationRecords(shop.repositories.schema).record_applied(
        1, MIGRATIONS[0].name, "0123456789abcdef", utcnow()
    )

    with pytest.raises(ConfigurationError, match="changed after it was applied"):
        migrate(shop, MIGRATIONS, on_line=lambda line: None)


@contextlib.contextmanager
def own_logging() -> Iterator[None]:
    """Each command with the logging a process of its own starts with: `worker` installs a
    handler on the stream CliRunner gave it, which is closed by the next command (whose
    slow-command warnings then failed to print, and their tracebacks made the output)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    commands = logging.getLogger(COMMAND_LOGGER)
    commands_level = commands.level
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        commands.setLevel(commands_level)


def test_code_older_than_the_database_refuses_to_start_with_one_line(
    shop: Shop, settings: Settings, mongodb_uri: str, tmp_path: Path
) -> None:
    MigrationRecords(shop.repositories.schema).record_applied(
        999, "from a newer version", "abc", utcnow()
    )

    with pytest.raises(ConfigurationError, match="newer than the code"), open_shop(settings):
        pass
    env = cli_env(settings, mongodb_uri, tmp_path)
    for command in (["worker"], ["db", "status"], ["db", "migrate"]):
        with own_logging():
            result = CliRunner().invoke(app, command, env=env)
        assert result.exit_code == 1, (command, result.output)
        assert "newer than the code" in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert "Traceback" not in result.output


def test_migrate_and_status_from_the_command_line(
    shop: Shop, settings: Settings, mongodb_uri: str, tmp_path: Path
) -> None:
    env = cli_env(settings, mongodb_uri, tmp_path)
    runner = CliRunner()

    before = runner.invoke(app, ["db", "status"], env=env)
    migrated = runner.invoke(app, ["db", "migrate"], env=env)
    after = runner.invoke(app, ["db", "status"], env=env)

    assert "migration 0001" in before.output
    assert "pending" in before.output
    assert migrated.exit_code == 0, migrated.output
    assert "applied 0001" in migrated.output
    assert "applied 0002" in migrated.output
    assert "applied 20" in after.output  # with its date
    assert "pending" not in after.output


def test_orders_read_the_same_before_during_and_after_the_migration_that_versions_them(
    shop: Shop,
) -> None:
    """Migration 0002 rewrites version 1 orders a batch at a time; a reader in the middle
    sees both versions, and reads every order the same way (its `item_count` computed
    for a version 1 order). The orders' validator is `moderate` meanwhile."""
    quantities = [[1], [2, 3], [4, 1, 1]] * 10
    shop.database["orders"].insert_many(
        [version_1_order(items) for items in quantities]  # written before versions existed
    )
    migrate(shop, MIGRATIONS[:1], on_line=lambda line: None)
    seen: list[tuple[int, list[int], str]] = []

    def read_in_flight(label: str) -> Callable[[int], None]:
        def after_a_batch(done: int) -> None:
            orders = shop.repositories.orders.find_many({}, limit=100)
            versions = [
                d.get("schema_version", 1) for d in shop.database["orders"].find({}, {"_id": 0})
            ]
            (info,) = shop.database.list_collections(filter={"name": "orders"})
            seen.append((len(orders), versions, info["options"].get("validationLevel", "strict")))
            assert sorted(order.item_count or 0 for order in orders) == sorted(
                sum(items) for items in quantities
            )

        return after_a_batch

    migrate(shop, MIGRATIONS, on_line=lambda line: None, progress=read_in_flight, batch_size=7)

    assert seen, "no batch was read in flight"
    first_count, first_versions, level = seen[0]
    assert first_count == len(quantities)
    assert set(first_versions) == {1, 2}  # in flight: both versions at once
    assert level == "moderate"
    stored = list(shop.database["orders"].find({}, {"item_count": 1, "schema_version": 1}))
    assert {document["schema_version"] for document in stored} == {2}
    assert sorted(d["item_count"] for d in stored) == sorted(sum(i) for i in quantities)
    (info,) = shop.database.list_collections(filter={"name": "orders"})
    assert info["options"].get("validationLevel", "strict") == "strict"


def version_1_order(quantities: list[int]) -> dict[str, object]:
    return {
        "user_id": ObjectId(),
        "account_id": ObjectId(),
        "items": [
            {"product_id": ObjectId(), "name": "Cup", "quantity": q, "unit_price": 100}
            for q in quantities
        ],
        "total": {"amount": 100 * sum(quantities), "currency": "EUR"},
        "status": "completed",
        "request_hash": "h",
        "created_at": utcnow(),
        "cancelled_at": None,
    }


def _validation_level(shop: Shop, collection: str) -> str | None:
    [info] = shop.database.command("listCollections", filter={"name": collection})["cursor"][
        "firstBatch"
    ]
    level: str | None = info.get("options", {}).get("validationLevel")
    return level


def test_a_failed_migration_leaves_the_validators_strict_and_records_nothing(shop: Shop) -> None:
    """Issue 21: a migration that failed halfway left its collections at `moderate`,
    accepting documents of any shape until someone noticed."""
    from mongoshop.migrations.runner import Migration, Step

    shop.database.create_collection("gadgets")
    shop.database.command("collMod", "gadgets", validationLevel="strict")

    def breaks(step: Step) -> None:
        assert _validation_level(step.shop, "gadgets") == "moderate"  # loosened meanwhile
        raise RuntimeError("a bug in the migration")

    with pytest.raises(RuntimeError, match="a bug"):
        migrate(shop, [Migration(1, "breaks", breaks, changes_shape=("gadgets",))])
    assert _validation_level(shop, "gadgets") == "strict"
    assert applied_numbers(shop) == []


def test_a_holder_that_lost_the_lease_records_nothing_and_leaves_the_validators(
    shop: Shop,
) -> None:
    """Issue 21 #10: a process that stalled past its lease while another took it over must
    not record the migration as applied (the other may be running it now) nor make the
    validators strict under the other's feet."""
    from mongoshop.migrations.runner import Migration, Step

    shop.database.create_collection("gadgets")
    shop.database.command("collMod", "gadgets", validationLevel="strict")

    def stalls(step: Step) -> None:
        # Meanwhile the lease expired and another process took it.
        shop.database["mongoshop_schema"].update_one(
            {"_id": "migration-lease"}, {"$set": {"holder": "another-host:42:abcdef"}}
        )

    with pytest.raises(ConfigurationError, match="lease was taken over"):
        migrate(shop, [Migration(1, "stalls", stalls, changes_shape=("gadgets",))])
    assert applied_numbers(shop) == []
    assert _validation_level(shop, "gadgets") == "moderate", "the new holder decides"
    lease = shop.database["mongoshop_schema"].find_one({"_id": "migration-lease"})
    assert lease is not None
    assert lease["holder"] == "another-host:42:abcdef", "the other's lease is left alone"


def test_recording_a_migration_twice_is_not_an_error(shop: Shop) -> None:
    """Two processes racing to record the same migration: the second learns it was done."""
    records = MigrationRecords(shop.repositories.schema)
    assert records.record_applied(1, "one", "abc", utcnow())
    assert not records.record_applied(1, "one", "abc", utcnow())
    assert applied_numbers(shop) == [1]


def test_pending_items_of_an_older_version_join_the_line(shop: Shop) -> None:
    """Migrations 0003 and 0004: an e-mail and a delivery enqueued before the line (pending, due at
    `available_at`, no place) are found by the sweep afterwards; one due later waits."""
    past, later = utcnow() - timedelta(minutes=1), utcnow() + timedelta(hours=1)

    def old_mail(n: int, available_at: Any, status: str = "pending") -> Document:
        email = f"reader{n}@example.com"
        document = outbox_document(MailKind.WELCOME, n, email, None, {"name": "R", "email": email})
        return {**document, "status": status, "available_at": available_at}

    shop.database["mail_outbox"].insert_many(
        [old_mail(1, past), old_mail(2, later), old_mail(3, past, "sent")]
    )
    subscription = ObjectId()
    event = {"id": "evt_1", "type": "order.placed", "created_at": past, "data": {}}
    shop.database["webhook_deliveries"].insert_one(
        {
            "_id": f"evt_1.{subscription}",
            "event": event,
            "subscription_id": subscription,
            "object_key": "order:1",
            "sequence": 1,
            "status": "pending",
            "attempts": 0,
            "available_at": past,
            "claimed_by": None,
            "last_error": None,
            "history": [],
            "created_at": past,
            "finished_at": None,
        }
    )
    assert shop.repositories.outbox.sweep(utcnow()) == 0, "invisible before the migration"

    migrate(shop, MIGRATIONS, on_line=lambda line: None)

    assert shop.repositories.outbox.sweep(utcnow()) == 1
    assert shop.repositories.webhook_deliveries.sweep(utcnow()) == 1
    in_line = shop.database["mail_outbox"].find({"place": {"$gte": 0}}, {"_id": 1})
    assert [item["_id"] for item in in_line] == ["welcome:1:reader1@example.com"]
    assert shop.repositories.outbox.sweep(later + timedelta(seconds=1)) == 1
    sent = shop.database["mail_outbox"].find_one({"_id": "welcome:3:reader3@example.com"})
    assert sent is not None
    assert "due_at" not in sent


def test_the_lease_is_judged_by_the_databases_clock_not_the_hosts(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21 #10: a host whose clock runs 31 s fast must not take over a live lease
    of 30 s: expiry is set and judged on the database server's clock (``hello``)."""
    records = MigrationRecords(shop.repositories.schema)
    assert records.take_lease("host-a", timedelta(seconds=30))
    fast = utcnow() + timedelta(seconds=31)
    monkeypatch.setattr("mongoshop.clock.utcnow", lambda: fast)
    monkeypatch.setattr("mongoshop.migrations.runner.utcnow", lambda: fast)
    assert not records.take_lease("host-b", timedelta(seconds=30))
    lease = shop.database["mongoshop_schema"].find_one({"_id": "migration-lease"})
    assert lease is not None
    assert lease["holder"] == "host-a"
    server_now = records.database_now()
    left = lease["expires_at"].replace(tzinfo=server_now.tzinfo) - server_now
    assert timedelta(seconds=25) < left <= timedelta(seconds=30)
    assert records.take_lease("host-a", timedelta(seconds=30)), "its holder renews it"
    shop.database["mongoshop_schema"].update_one(
        {"_id": "migration-lease"}, {"$set": {"expires_at": server_now - timedelta(seconds=1)}}
    )
    assert records.take_lease("host-b", timedelta(seconds=30)), "expired on the server's clock"
