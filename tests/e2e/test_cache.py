"""Cached reads are invalidated by change streams: a change made by another process
shows within the documented bound (well under the 30 s TTL that applies otherwise)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
from pymongo import MongoClient

from mongoshop.models.common import Document

from .conftest import RunningApp
from .support import Account, Api, create_product, new_buyer, place_order

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


def test_everyones_orders_follow_a_change_made_directly_in_the_database(
    client: httpx.Client,
    app: RunningApp,
    admin_headers: dict[str, str],
    api: Api,
    sync_client: MongoClient[Document],
) -> None:
    """The admin's list of every order is cached by page; the orders' stream drops it."""
    buyer = new_buyer(api, client, admin_headers, funds=100)
    product = create_product(client, admin_headers, price=10, stock=5)
    for _ in range(2):
        assert place_order(client, buyer, [(product["id"], 1)]).status_code == 201
    orders = sync_client[app.database].orders
    oldest = orders.find_one({}, sort=[("created_at", 1), ("_id", 1)])
    assert oldest is not None
    first = client.get("/orders", params={"page_size": 1}, headers=admin_headers).json()
    assert first["items"][0]["id"] != str(oldest["_id"])  # now cached

    orders.update_one({"_id": oldest["_id"]}, {"$set": {"created_at": datetime.now(UTC)}})

    started = time.monotonic()
    while time.monotonic() - started < INVALIDATION_BOUND * 3:
        page = client.get("/orders", params={"page_size": 1}, headers=admin_headers).json()
        if page["items"][0]["id"] == str(oldest["_id"]):
            break
        time.sleep(0.05)
    assert time.monotonic() - started < INVALIDATION_BOUND
