"""Cached reads are invalidated by change streams: a change made by another process
shows within the documented bound (well under the 30 s TTL that applies otherwise)."""

from __future__ import annotations

import time

import httpx
from pymongo import MongoClient

from mongoshop.models.common import Document

from .conftest import RunningApp
from .support import Account

INVALIDATION_BOUND = 5.0
"""Seconds; the TTL (30 s by default) is the bound only while a stream is down."""


def _wait_for_change(
    client: httpx.Client, path: str, headers: dict[str, str], field: str, expected: object
) -> float:
    started = time.monotonic()
    while time.monotonic() - started < INVALIDATION_BOUND * 3:
        if client.get(path, headers=headers).json()[field] == expected:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{path} still served the old {field} after {INVALIDATION_BOUND * 3}s")


def test_a_profile_changed_directly_in_the_database_is_not_served_stale(
    client: httpx.Client,
    app: RunningApp,
    admin_headers: dict[str, str],
    user: Account,
    sync_client: MongoClient[Document],
) -> None:
    path = f"/users/{user.id}"
    assert client.get(path, headers=admin_headers).json()["name"] == user.name  # now cached
    from bson import ObjectId

    sync_client[app.database].users.update_one(
        {"_id": ObjectId(user.id)}, {"$set": {"name": "Changed Elsewhere"}}
    )

    elapsed = _wait_for_change(client, path, admin_headers, "name", "Changed Elsewhere")
    assert elapsed < INVALIDATION_BOUND


def test_a_product_changed_directly_in_the_database_is_not_served_stale(
    client: httpx.Client,
    app: RunningApp,
    admin_headers: dict[str, str],
    sync_client: MongoClient[Document],
) -> None:
    created = client.post(
        "/products",
        headers=admin_headers,
        json={"name": "Lamp", "category": "home", "price": {"amount": 2500, "currency": "EUR"}},
    ).json()
    path = f"/products/{created['id']}"
    assert client.get(path).json()["name"] == "Lamp"  # now cached
    from bson import ObjectId

    sync_client[app.database].products.update_one(
        {"_id": ObjectId(created["id"])}, {"$set": {"name": "Lamp (renamed)"}}
    )

    elapsed = _wait_for_change(client, path, {}, "name", "Lamp (renamed)")
    assert elapsed < INVALIDATION_BOUND
