"""A process that runs test migrations with the real runner, as `mongoshop db migrate`
runs the shipped ones: the concurrency and SIGKILL tests start several of these.

    python -m tests.integration.migration_process URI DATABASE SET [BATCH]

SET names the migrations: ``counted`` (three that count their runs and take a
moment each), ``backfill`` (one over the `items` collection, in batches).
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable

from pymongo import MongoClient

from mongoshop._sync.shop import Shop
from mongoshop.migrations.runner import Migration, Step, migrate
from mongoshop.settings import Settings


def counted(number: int) -> Migration:
    def up(step: Step) -> None:
        runs = step.shop.database["migration_runs"]
        runs.update_one({"_id": number}, {"$inc": {"runs": 1}}, upsert=True)
        for _ in range(4):  # a migration that takes a moment, renewing its lease
            time.sleep(0.25)
            step.renew()

    return Migration(number, f"counted {number}", up)


def backfill_items(step: Step) -> None:
    # The filter stops matching a document once it is migrated: a batch replayed after a
    # crash changes nothing, and `times` would show a document migrated twice.
    step.backfill(
        "items",
        {"schema_version": {"$lt": 2}},
        {"$set": {"schema_version": 2, "label": "migrated"}, "$inc": {"times": 1}},
    )


SETS = {
    "counted": [counted(1), counted(2), counted(3)],
    "backfill": [Migration(1, "items to version 2", backfill_items, changes_shape=("items",))],
}


def main() -> None:
    uri, database, name = sys.argv[1:4]
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 500
    client: MongoClient[dict[str, object]] = MongoClient(uri, tz_aware=True)
    shop = Shop(client[database], Settings(mongodb_uri=uri, mongodb_database=database))
    migrations = SETS[name]

    def paced(label: str) -> Callable[[int], None]:
        return lambda done: time.sleep(0.02)  # leaves time to kill it halfway

    migrate(shop, migrations, on_line=print, progress=paced, wait_seconds=120, batch_size=batch)
    client.close()
    # What the process held at most: the tests compare it across collection sizes.
    print(f"peak_rss_kib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")


if __name__ == "__main__":
    main()
