"""The admin's recent orders: everyone's, newest first, each with its buyer, bounded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from mongoshop._async.shop import AsyncShop
from mongoshop._sync.shop import Shop
from mongoshop.clock import utcnow
from mongoshop.errors import ValidationFailed
from mongoshop.models.money import Money
from mongoshop.models.orders import MAX_RECENT_ORDERS, OrderItemRequest, OrderRequest
from mongoshop.models.products import Inventory, ProductCreate, ProductInDB
from mongoshop.models.users import UserCreate
from mongoshop.models.wallet import CreditRequest
from tests.integration.conftest import CommandRecorder
from tests.integration.helpers import Customer, Customers, Products, user_document
from tests.plans import assert_index_scan


def one_of(product: ProductInDB, quantity: int = 1) -> OrderRequest:
    return OrderRequest(items=[OrderItemRequest(product_id=str(product.id), quantity=quantity)])


async def test_recent_orders_are_everyones_newest_first_with_the_buyer(
    ashop: AsyncShop, customers: Customers, products: Products
) -> None:
    alice, bob = await customers.create(2)
    mug = await products.create(quantity=50, price=300)
    start = utcnow() - timedelta(hours=1)
    placed = []
    for n, buyer in enumerate([alice, bob, alice, bob, alice]):
        order, _ = await ashop.orders.place(
            buyer.user, one_of(mug, n + 1), placed_at=start + timedelta(minutes=n)
        )
        placed.append((buyer, order))

    recent = await ashop.orders.recent(3)

    assert [entry.order.id for entry in recent] == [str(o.id) for _, o in reversed(placed)][:3]
    for entry, (buyer, order) in zip(recent, list(reversed(placed))[:3], strict=True):
        assert entry.order.total.amount == order.total.amount
        assert entry.order.user_id == str(buyer.user.id)
        assert entry.buyer is not None
        assert (entry.buyer.id, entry.buyer.name, entry.buyer.email) == (
            str(buyer.user.id),
            buyer.user.name,
            buyer.user.email,
        )


async def test_a_tie_on_the_time_is_broken_by_id_newest_first(
    ashop: AsyncShop, buyer: Customer, products: Products
) -> None:
    pen = await products.create(quantity=10, price=100)
    same_time = utcnow()
    first, _ = await ashop.orders.place(buyer.user, one_of(pen), placed_at=same_time)
    second, _ = await ashop.orders.place(buyer.user, one_of(pen), placed_at=same_time)

    recent = await ashop.orders.recent(2)

    assert [entry.order.id for entry in recent] == [str(second.id), str(first.id)]


async def test_an_order_whose_buyer_is_gone_has_no_buyer(
    ashop: AsyncShop, customers: Customers, products: Products
) -> None:
    kept, gone = await customers.create(2)
    cup = await products.create(quantity=10, price=100)
    await ashop.orders.place(kept.user, one_of(cup))
    orphan, _ = await ashop.orders.place(gone.user, one_of(cup))
    await ashop.repositories.users.delete_by_id(gone.user.id)

    recent = await ashop.orders.recent(10)

    by_id = {entry.order.id: entry for entry in recent}
    assert by_id[str(orphan.id)].buyer is None
    assert len(recent) == 2
    assert sum(entry.buyer is not None for entry in recent) == 1


async def test_no_orders_gives_an_empty_list(ashop: AsyncShop) -> None:
    assert await ashop.orders.recent(MAX_RECENT_ORDERS) == []


@pytest.mark.parametrize("limit", [0, -1, MAX_RECENT_ORDERS + 1])
async def test_a_limit_out_of_bounds_is_refused(ashop: AsyncShop, limit: int) -> None:
    with pytest.raises(ValidationFailed, match="limit"):
        await ashop.orders.recent(limit)


async def test_the_limit_caps_the_list(
    ashop: AsyncShop, buyer: Customer, products: Products
) -> None:
    pen = await products.create(quantity=10, price=10)
    for _ in range(4):
        await ashop.orders.place(buyer.user, one_of(pen))

    assert len(await ashop.orders.recent(1)) == 1
    assert len(await ashop.orders.recent(3)) == 3
    assert len(await ashop.orders.recent(MAX_RECENT_ORDERS)) == 4


async def test_contacts_name_only_existing_users_once_each(
    ashop: AsyncShop, customers: Customers
) -> None:
    alice, bob = await customers.create(2)
    missing = (await customers.one()).user.id
    await ashop.repositories.users.delete_by_id(missing)

    contacts = await ashop.repositories.users.contacts(
        [alice.user.id, bob.user.id, alice.user.id, missing]
    )

    assert set(contacts) == {alice.user.id, bob.user.id}
    assert contacts[bob.user.id].email == bob.user.email
    assert await ashop.repositories.users.contacts([]) == {}


def test_the_sync_face_lists_recent_orders_too(shop: Shop) -> None:
    currency = shop.settings.currency
    buyer = shop.users.register(
        UserCreate(name="Sync Buyer", email="sync.buyer@example.com", password="password-1234"),
        verified=True,
    )
    account = shop.wallet.account_of(buyer)
    shop.wallet.credit(
        str(account.id), CreditRequest(amount=5_000, currency=currency, reason="top-up")
    )
    lamp = shop.catalog.create(
        ProductCreate(
            name="Lamp",
            category="home",
            price=Money(amount=1_500, currency=currency),
            inventory=Inventory(quantity=3),
        )
    )
    order, _ = shop.orders.place(buyer, one_of(lamp, 2))

    (entry,) = shop.orders.recent(5)

    assert entry.order.id == str(order.id)
    assert entry.order.total.amount == 3_000
    assert entry.buyer is not None
    assert entry.buyer.email == "sync.buyer@example.com"


async def test_recent_orders_read_the_newest_index_and_the_buyers_by_id(
    traced_shop: AsyncShop, recorder: CommandRecorder, explain: Any
) -> None:
    now = utcnow()
    buyers = [ObjectId() for _ in range(5)]
    await traced_shop.repositories.users.collection.insert_many(
        [
            {"_id": user_id, **user_document(f"Buyer {n}", f"buyer{n}@example.com")}
            for n, user_id in enumerate(buyers)
        ]
    )
    await traced_shop.repositories.orders.collection.insert_many(
        [
            {
                "user_id": buyers[n % 5],
                "account_id": ObjectId(),
                "items": [],
                "total": {"amount": 100, "currency": "EUR"},
                "status": "completed",
                "created_at": now - timedelta(minutes=n),
            }
            for n in range(60)
        ]
    )
    recorder.clear()

    assert len(await traced_shop.orders.recent(10)) == 10

    assert_index_scan(await explain(recorder.last("find", "orders")), "newest")
    assert_index_scan(await explain(recorder.last("find", "users")), "_id_")


async def test_the_widening_window_gives_the_same_pages_as_an_unbounded_sort(
    ashop: AsyncShop,
) -> None:
    """Orders minutes, hours, weeks and years old: every page of "everyone's newest" read
    through the widening windows equals the page of a plain sort of every order."""
    now = utcnow()
    ages = [
        timedelta(minutes=5),
        timedelta(minutes=50),
        timedelta(hours=3),
        timedelta(hours=20),
        timedelta(days=3),
        timedelta(days=20),
        timedelta(days=200),
        timedelta(days=900),
        timedelta(days=2000),
    ]
    documents = [
        {
            "_id": ObjectId(),
            "user_id": ObjectId(),
            "account_id": ObjectId(),
            "items": [{"product_id": ObjectId(), "name": "x", "quantity": 1, "unit_price": 1}],
            "total": {"amount": 1, "currency": ashop.settings.currency},
            "status": "completed",
            "request_hash": "h",
            "created_at": now - age * (1 + copy / 10),
            "cancelled_at": None,
        }
        for age in ages
        for copy in range(2)
    ]
    await ashop.repositories.orders.collection.insert_many(documents)
    expected = [
        d["_id"] for d in sorted(documents, key=lambda d: (d["created_at"], d["_id"]), reverse=True)
    ]

    for limit in (1, 2, 3, 5, 8):
        for skip in (0, 1, 4, 10, 17):
            page = await ashop.repositories.orders.newest(limit, skip=skip, now=now)
            assert [order.id for order in page] == expected[skip : skip + limit], (limit, skip)
    everyone = await ashop.repositories.orders.page_for(None, skip=2, limit=4)
    assert [order.id for order in everyone] == expected[2:6]
    assert await ashop.repositories.orders.count_for(None) == len(documents)
    # After an order (keyset): the same pages as by position, at every depth.
    for position in sorted({0, 1, 5, len(expected) // 2, len(expected) - 2}):
        for limit in (1, 3, 7):
            page = await ashop.repositories.orders.page_for(
                None, skip=0, limit=limit, after=expected[position]
            )
            assert [order.id for order in page] == expected[position + 1 : position + 1 + limit]
