"""The migrations, in order: `mongoshop db migrate` runs the pending ones.

Add one as ``mNNNN_what_it_does.py`` with a function over a `runner.Step`, and list it
here with the next number. Never edit one once it has been applied anywhere (its
checksum is recorded, and an edited one is refused): write the next one instead.
"""

from __future__ import annotations

from mongoshop.migrations.m0001_legacy_indexes import drop_legacy_indexes
from mongoshop.migrations.m0002_order_item_count import count_order_items
from mongoshop.migrations.m0003_queue_lines import (
    line_up_older_deliveries,
    line_up_older_emails,
)
from mongoshop.migrations.runner import Migration

MIGRATIONS: list[Migration] = [
    Migration(1, "drop the indexes earlier versions left behind", drop_legacy_indexes),
    Migration(2, "orders count their units", count_order_items, changes_shape=("orders",)),
    Migration(3, "e-mails enqueued by older versions join the line", line_up_older_emails),
    Migration(
        4, "webhook deliveries enqueued by older versions join the line", line_up_older_deliveries
    ),
]
