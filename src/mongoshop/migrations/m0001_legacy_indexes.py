"""0001: drop the indexes earlier versions of mongoshop created under names no longer
declared, which `db init` and start-up have always left behind.

Each is dropped only if an index of that name has exactly the keys mongoshop gave it
(another index that happens to share the name is someone else's, and stays). The
indexes that replaced them were created at start-up already. Idempotent: a second
run finds nothing to drop.
"""

from __future__ import annotations

from mongoshop.migrations.runner import Step

LEGACY: dict[str, dict[str, list[tuple[str, int]]]] = {
    "products": {
        "created_at": [("created_at", -1)],
        "price": [("price.amount", 1)],
        "name": [("name", 1)],
        "rating": [("reviews.rating", -1)],
    },
    "users": {
        "created_at": [("created_at", -1)],
        "status_created": [("status", 1), ("created_at", -1)],
        "roles_created": [("roles", 1), ("created_at", -1)],
    },
}
"""Collection → retired index name → the keys mongoshop created it with."""


def drop_legacy_indexes(step: Step) -> None:
    for collection, retired in LEGACY.items():
        target = step.shop.database[collection]
        information = target.index_information()
        for name, keys in retired.items():
            found = information.get(name)
            if found is not None and [tuple(key) for key in found["key"]] == keys:
                target.drop_index(name)
        step.renew()
