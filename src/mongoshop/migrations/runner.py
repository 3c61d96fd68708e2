"""Versioned migrations: numbered, forward-only, each run once, in resumable batches.

A migration is a function over the shop (`Migration.up`), run by `migrate`:

- **Once, whatever runs at the same time.** A lease in the database (renewed
  while a migration runs, taken over once it expires, both on the database
  server's clock) lets one process run migrations; the others wait for it, then
  find nothing left to do.
- **Recorded with the checksum of its code.** A migration edited after it was
  applied is refused, and so is a database whose applied migrations are newer
  than the code (a rollback of the code after a migration): `check_applied`,
  which the API and the worker also run at start-up.
- **In batches with a checkpoint, not in one transaction.** `Step.backfill`
  walks a collection by `_id` from the last checkpoint; a SIGKILL in the middle
  resumes where it stopped, and each batch's update is written so that doing
  it twice changes nothing the second time.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pymongo import UpdateOne

from mongoshop._sync.repositories.schema import MigrationRecords
from mongoshop._sync.shop import Shop
from mongoshop.clock import utcnow
from mongoshop.collection_schemas import MODERATE, STRICT
from mongoshop.errors import ConfigurationError
from mongoshop.iterables import batched
from mongoshop.observability.tracing import span

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)
MODULE_CHECKSUM = "module:"
"""The prefix of a checksum that covers its migration's whole module (those recorded by
earlier versions covered its function only, and have none)."""
WAIT_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    up: Callable[[Step], None]
    changes_shape: tuple[str, ...] = ()
    """Collections whose documents it rewrites: their validators are `moderate` meanwhile."""

    @property
    def checksum(self) -> str:
        """Of the migration's whole module, its helpers and constants with its function:
        an applied migration must never change (migrations pin the values they use
        rather than import ones that move, such as a model's current version)."""
        module = inspect.getmodule(self.up)
        source = inspect.getsource(module) if module is not None else inspect.getsource(self.up)
        return MODULE_CHECKSUM + hashlib.sha256(source.encode()).hexdigest()[:16]

    def matches(self, recorded: str) -> bool:
        """Whether the code is the one recorded: a checksum recorded by a version that
        covered only the function (no prefix) is compared with the function's."""
        if recorded.startswith(MODULE_CHECKSUM):
            return recorded == self.checksum
        return recorded == hashlib.sha256(inspect.getsource(self.up).encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        return f"{self.number:04d} {self.name}"


@dataclass
class Step:
    """What a running migration may do: the shop, and batches with a checkpoint."""

    shop: Shop
    records: MigrationRecords
    migration: Migration
    holder: str
    batch_size: int = 500
    progress: Callable[[int], None] = field(default=lambda done: None)

    def renew(self) -> None:
        """Keep the lease; a holder that lost it (it stalled past it) stops here."""
        if not self.records.take_lease(self.holder, LEASE):
            raise ConfigurationError(
                f"migration {self.migration.label}: the lease was taken over; stopping"
            )

    def backfill(
        self,
        collection: str,
        filter: Mapping[str, Any],
        update: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    ) -> int:
        """Apply `update` to every document matching `filter`, by `_id` order, a batch at
        a time, saving the last `_id` after each batch. `filter` must stop matching a
        document once it is updated (say ``{"schema_version": {"$lt": 2}}``): a batch
        replayed after a crash then changes nothing. How many were updated."""
        return self.rewrite(collection, filter, lambda _document: update, {"_id": 1})

    def rewrite(
        self,
        collection: str,
        filter: Mapping[str, Any],
        change: Callable[[Mapping[str, Any]], Mapping[str, Any] | Sequence[Mapping[str, Any]]],
        projection: Mapping[str, Any] | None = None,
    ) -> int:
        """Like `backfill`, when each document's update depends on the document: `change`
        gives it (computed here, not by the server), one bulk write per batch, each
        update still guarded by `filter`. How many were updated."""

        def write(target: Any, batch: Sequence[Mapping[str, Any]]) -> int:
            # One update per document, each naming its `_id` (and still guarded by the
            # filter), in one bulk write: the only shape whose cost is the batch's on
            # every server. A range or an `$in` of `_id` is planned as a pass over the
            # collection on the embedded server (about 4 s per batch of 1,000 at 100,000
            # documents, against 1 s for the same thousand by `_id`): a backfill written
            # that way was quadratic in its collection.
            requests = [UpdateOne({**filter, "_id": d["_id"]}, change(d)) for d in batch]
            return int(target.bulk_write(requests, ordered=False).modified_count)

        return self._in_batches(collection, filter, projection, write)

    def _in_batches(
        self,
        collection: str,
        filter: Mapping[str, Any],
        projection: Mapping[str, Any] | None,
        write: Callable[[Any, Sequence[Mapping[str, Any]]], int],
    ) -> int:
        """One pass over the matching documents in `_id` order, from the checkpoint, a
        batch in memory at a time; after each batch's `write`, the checkpoint and the lease."""
        target = self.shop.database[collection]
        number = self.migration.number
        last = self.records.checkpoint(number)
        bounded = dict(filter) if last is None else {**filter, "_id": {"$gt": last}}
        cursor = target.find(bounded, projection).sort("_id", 1).batch_size(self.batch_size)
        updated = 0
        for batch in batched(cursor, self.batch_size):
            attributes = {
                "mongoshop.migration": number,
                "mongoshop.collection": collection,
                "mongoshop.batch.size": len(batch),
            }
            with span("migration.batch", attributes=attributes):
                updated += write(target, batch)
                self.records.save_checkpoint(number, batch[-1]["_id"], self.holder)
            self.renew()
            self.progress(len(batch))
        return updated


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def check_applied(applied: Sequence[Mapping[str, Any]], known: Sequence[Migration]) -> None:
    """Refuse a database this code must not run on: one line, what to do.

    An applied migration the code does not have means the code is older than the
    database (rolled back after a migration); one whose checksum differs means a
    migration was edited after it ran.
    """
    by_number = {migration.number: migration for migration in known}
    for record in applied:
        migration = by_number.get(record["number"])
        if migration is None:
            raise ConfigurationError(
                f"the database has migration {record['number']:04d} {record['name']} applied,"
                " which this code does not know: it is newer than the code; deploy the"
                " newer code (or restore the database from before that migration)"
            )
        if not migration.matches(record["checksum"]):
            raise ConfigurationError(
                f"migration {migration.label} was changed after it was applied (checksum"
                f" {record['checksum']} in the database, {migration.checksum} in the code):"
                " write a new migration instead of editing an applied one"
            )


def pending(
    applied: Sequence[Mapping[str, Any]], known: Sequence[Migration], to: int | None = None
) -> list[Migration]:
    done = {record["number"] for record in applied}
    return [m for m in known if m.number not in done and (to is None or m.number <= to)]


def migrate(
    shop: Shop,
    known: Sequence[Migration],
    *,
    to: int | None = None,
    dry_run: bool = False,
    wait_seconds: float = 600.0,
    on_line: Callable[[str], None] = print,
    progress: Callable[[str], Callable[[int], None]] | None = None,
    batch_size: int = 500,
) -> list[Migration]:
    """Run the pending migrations up to `to` (all by default); the ones this process ran.

    With another process holding the lease, this one waits (up to `wait_seconds`)
    and then runs whatever is still pending: usually nothing.
    """
    records = MigrationRecords(shop.repositories.schema)
    check_applied(records.applied(), known)
    todo = pending(records.applied(), known, to)
    if dry_run or not todo:
        for migration in todo:
            on_line(f"pending: {migration.label}")
        if not todo:
            on_line("no migration to run")
        return []
    holder = holder_name()
    deadline = time.monotonic() + wait_seconds
    announced = False
    while not records.take_lease(holder, LEASE):
        if not announced:
            on_line("another process is running migrations: waiting for it")
            announced = True
        if time.monotonic() > deadline:
            raise ConfigurationError(
                f"another process still holds the migration lease after {wait_seconds:.0f} s"
            )
        time.sleep(WAIT_POLL_SECONDS)
    ran = []
    try:
        for migration in pending(records.applied(), known, to):
            ran.append(migration)
            on_line(f"running {migration.label}")
            _run(shop, records, migration, holder, progress, batch_size)
            on_line(f"applied {migration.label}")
        if not ran:
            on_line("no migration to run (another process ran them)")
    finally:
        records.release_lease(holder)
    return ran


def _run(
    shop: Shop,
    records: MigrationRecords,
    migration: Migration,
    holder: str,
    progress: Callable[[str], Callable[[int], None]] | None,
    batch_size: int,
) -> None:
    step = Step(shop, records, migration, holder, batch_size)
    if progress is not None:
        step.progress = progress(migration.label)
    for collection in migration.changes_shape:
        _validation_level(shop, collection, MODERATE)
    try:
        migration.up(step)
        # Still ours? A holder that stalled past its lease must not record what another
        # may be running now.
        step.renew()
        if not records.record_applied(
            migration.number, migration.name, migration.checksum, utcnow()
        ):
            logger.warning("migration %s was already recorded as applied", migration.label)
        records.clear_checkpoint(migration.number)
    finally:
        # Done or failed, the validators are strict again: a failure must not leave a
        # collection accepting documents of any shape (the migration resumes from its
        # checkpoint next time, and loosens them again while it runs). Unless the lease
        # was lost: the process that holds it now decides.
        if records.take_lease(holder, LEASE):
            for collection in migration.changes_shape:
                _validation_level(shop, collection, STRICT)


def _validation_level(shop: Shop, collection: str, level: str) -> None:
    if collection in shop.database.list_collection_names(filter={"name": collection}):
        shop.database.command("collMod", collection, validationLevel=level)
