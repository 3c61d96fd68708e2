"""0002: orders store how many units they hold (`item_count`), and say they are version 2.

Orders placed since this version store it; this rewrites the older ones, a batch at a
time. Until it is done, readers compute the count of a version 1 order themselves
(`OrderInDB`), so the API answers the same before, during and after the migration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mongoshop.migrations.runner import Step

ORDER_VERSION = 2
"""The version this migration brings orders to: pinned here, never imported (the model's
current version moves on with later migrations; this one must not)."""
OLDER = {"schema_version": {"$not": {"$gte": ORDER_VERSION}}}
"""Orders of an older version, including those written before versions existed."""


def counted(order: Mapping[str, Any]) -> Mapping[str, Any]:
    count = sum(int(item.get("quantity", 0)) for item in order.get("items", []))
    return {"$set": {"item_count": count, "schema_version": ORDER_VERSION}}


def count_order_items(step: Step) -> None:
    step.rewrite("orders", OLDER, counted, projection={"items.quantity": 1})
