"""Orders: stock and money in one transaction, all or nothing, once; cancel once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from bson import ObjectId

from mongoshop._async.shop import AsyncShop
from mongoshop.clock import utcnow
from mongoshop.errors import (
    CancellationWindowClosed,
    Conflict,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidId,
    NotFound,
    OutOfStock,
    StockLimitExceeded,
)
from mongoshop.models.common import PageRequest
from mongoshop.models.orders import OrderItemRequest, OrderRequest, OrderStatus
from mongoshop.models.products import MAX_QUANTITY, ProductInDB, ProductQuery
from tests.integration.helpers import (
    OPENING_BALANCE,
    Customer,
    Customers,
    Products,
    assert_books_balance,
    balance_of,
    ledger_of,
    stock_of,
)


def order_of(*lines: tuple[ProductInDB | ObjectId | str, int]) -> OrderRequest:
    return OrderRequest(
        items=[
            OrderItemRequest(
                product_id=str(p.id if isinstance(p, ProductInDB) else p), quantity=quantity
            )
            for p, quantity in lines
        ]
    )


async def snapshot(ashop: AsyncShop) -> dict[str, object]:
    """Everything a refused order must leave exactly as it was."""
    return {
        name: await ashop.database[name].find({}).sort("_id", 1).to_list()
        for name in ("products", "accounts", "ledger", "orders")
    }


# --- placing ------------------------------------------------------------------------------


async def test_an_order_takes_stock_and_money_and_snapshots_prices(
    ashop: AsyncShop, buyer: Customer, products: Products
) -> None:
    mug = await products.create(quantity=5, price=1_250, name="Mug")
    pen = await products.create(quantity=9, price=199, name="Pen")

    order, replay = await ashop.orders.place(buyer.user, order_of((mug, 2), (pen, 1), (mug, 1)))

    assert not replay
    assert order.status is OrderStatus.COMPLETED
    assert order.total.amount == 3 * 1_250 + 199
    assert order.total.currency == ashop.settings.currency
    assert order.account_id == buyer.account_id
    assert sorted((i.name, i.quantity, i.unit_price) for i in order.items) == [
        ("Mug", 3, 1_250),
        ("Pen", 1, 199),
    ]
    assert await stock_of(ashop, mug.id) == 2
    assert await stock_of(ashop, pen.id) == 8
    assert await balance_of(ashop, buyer.account_id) == OPENING_BALANCE - order.total.amount
    entries = await ledger_of(ashop, buyer.account_id)
    assert [(e["kind"], e["amount"], e["reference_id"]) for e in entries[1:]] == [
        ("order", -order.total.amount, order.id)
    ]

    # The price is a snapshot: a later price change does not touch the order.
    await ashop.repositories.products.update_by_id(mug.id, {"$set": {"price.amount": 9_999}})
    stored = await ashop.orders.get_visible_to(buyer.user, str(order.id))
    assert stored.total.amount == order.total.amount
    assert {i.name: i.unit_price for i in stored.items}["Mug"] == 1_250
    await assert_books_balance(ashop)


async def test_fifty_buyers_for_ten_units(
    ashop: AsyncShop, customers: Customers, products: Products
) -> None:
    buyers = await customers.create(50)
    product = await products.create(quantity=10, price=700)
    request = order_of((product, 1))

    results = await asyncio.gather(
        *(ashop.orders.place(person.user, request) for person in buyers), return_exceptions=True
    )

    unexpected = [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, OutOfStock)
    ]
    assert not unexpected, unexpected
    winners = {n for n, r in enumerate(results) if not isinstance(r, BaseException)}
    losers = [r for r in results if isinstance(r, OutOfStock)]
    assert len(winners) == 10
    assert len(losers) == 40
    assert all(error.code == "out_of_stock" for error in losers)
    assert await stock_of(ashop, product.id) == 0
    assert await ashop.repositories.orders.count() == 10

    orders = await ashop.repositories.orders.find_many({})
    assert {order.user_id for order in orders} == {buyers[n].user.id for n in winners}
    for n, person in enumerate(buyers):
        balance = await balance_of(ashop, person.account_id)
        entries = await ledger_of(ashop, person.account_id)
        if n in winners:
            assert balance == OPENING_BALANCE - 700
            assert [(e["kind"], e["amount"]) for e in entries[1:]] == [("order", -700)]
        else:
            assert balance == OPENING_BALANCE
            assert [(e["kind"], e["amount"]) for e in entries] == [("credit", OPENING_BALANCE)]
    await assert_books_balance(ashop)


async def test_out_of_stock_on_the_second_item_changes_nothing(
    ashop: AsyncShop, buyer: Customer, products: Products
) -> None:
    plenty = await products.create(quantity=10, price=100)
    scarce = await products.create(quantity=1, price=100)
    gone = await products.create(quantity=0, price=100)
    before = await snapshot(ashop)

    with pytest.raises(OutOfStock) as refused:
        await ashop.orders.place(buyer.user, order_of((plenty, 3), (scarce, 2)))
    assert refused.value.code == "out_of_stock"
    with pytest.raises(OutOfStock):
        await ashop.orders.place(buyer.user, order_of((plenty, 3), (gone, 1)), "key-1")
    with pytest.raises(NotFound):
        await ashop.orders.place(buyer.user, order_of((plenty, 3), (ObjectId(), 1)))
    with pytest.raises(InvalidId):
        await ashop.orders.place(buyer.user, order_of((plenty, 3), ("bad-id", 1)))

    assert await snapshot(ashop) == before
    assert await stock_of(ashop, plenty.id) == 10
    assert await balance_of(ashop, buyer.account_id) == OPENING_BALANCE


async def test_insufficient_funds_changes_nothing(
    ashop: AsyncShop, customers: Customers, products: Products
) -> None:
    poor = await customers.one(balance=500)
    first = await products.create(quantity=4, price=300)
    second = await products.create(quantity=4, price=200)
    before = await snapshot(ashop)

    with pytest.raises(InsufficientFunds) as refused:
        await ashop.orders.place(poor.user, order_of((first, 1), (second, 2)))
    assert refused.value.code == "insufficient_funds"

    assert await snapshot(ashop) == before
    assert await stock_of(ashop, first.id) == 4
    assert await stock_of(ashop, second.id) == 4

    # Exactly the balance is enough.
    order, _ = await ashop.orders.place(poor.user, order_of((first, 1), (second, 1)))
    assert order.total.amount == 500
    assert await balance_of(ashop, poor.account_id) == 0
    await assert_books_balance(ashop)


async def test_the_same_key_sent_twice_concurrently_places_one_order(
    ashop: AsyncShop, buyer: Customer, products: Products
) -> None:
    product = await products.create(quantity=10, price=450)
    request = order_of((product, 2))

    (first, first_replay), (second, second_replay) = await asyncio.gather(
        ashop.orders.place(buyer.user, request, "basket-1"),
        ashop.orders.place(buyer.user, request, "basket-1"),
    )

    assert first.id == second.id
    assert sorted([first_replay, second_replay]) == [False, True]
    assert await ashop.repositories.orders.count() == 1
    assert await stock_of(ashop, product.id) == 8
    assert await balance_of(ashop, buyer.account_id) == OPENING_BALANCE - 900
    assert await ashop.repositories.ledger.count({"kind": "order"}) == 1

    # Later retries are replays too; another request under the key is refused.
    again, replay = await ashop.orders.place(buyer.user, order_of((product, 2)), "basket-1")
    assert (again.id, replay) == (first.id, True)
    before = await snapshot(ashop)
    with pytest.raises(IdempotencyKeyReused):
        await ashop.orders.place(buyer.user, order_of((product, 3)), "basket-1")
    assert await snapshot(ashop) == before
    await assert_books_balance(ashop)


# --- reading ------------------------------------------------------------------------------


async def test_buyers_see_their_own_orders_and_admins_all(
    ashop: AsyncShop, customers: Customers, products: Products
) -> None:
    alice, bob = await customers.create(2)
    admin = await customers.one(admin=True)
    product = await products.create(quantity=10, price=100)
    mine = [(await ashop.orders.place(alice.user, order_of((product, 1))))[0] for _ in range(3)]
    theirs, _ = await ashop.orders.place(bob.user, order_of((product, 1)))

    page = await ashop.orders.list_for(alice.user, PageRequest(page=1, page_size=2))
    assert [o.id for o in page.items] == [mine[2].id, mine[1].id]
    assert (page.total, page.total_pages) == (3, 2)
    everything = await ashop.orders.list_for(admin.user, PageRequest(page=1, page_size=10))
    assert everything.total == 4
    with pytest.raises(NotFound):
        await ashop.orders.get_visible_to(alice.user, str(theirs.id))
    assert (await ashop.orders.get_visible_to(admin.user, str(theirs.id))).id == theirs.id


# --- cancelling ---------------------------------------------------------------------------


async def test_cancel_restocks_and_refunds_once(
    ashop: AsyncShop, buyer: Customer, products: Products
) -> None:
    product = await products.create(quantity=5, price=800)
    order, _ = await ashop.orders.place(buyer.user, order_of((product, 2)))
    assert await stock_of(ashop, product.id) == 3

    cancelled = await ashop.orders.cancel(buyer.user, str(order.id))

    assert cancelled.status is OrderStatus.CANCELLED
    assert cancelled.cancelled_at is not None
    assert await stock_of(ashop, product.id) == 5
    assert await balance_of(ashop, buyer.account_id) == OPENING_BALANCE
    entries = await ledger_of(ashop, buyer.account_id)
    assert [(e["kind"], e["amount"], e["reference_id"]) for e in entries[1:]] == [
        ("order", -1_600, order.id),
        ("refund", 1_600, order.id),
    ]
    before = await snapshot(ashop)

    with pytest.raises(Conflict) as again:
        await ashop.orders.cancel(buyer.user, str(order.id))
    assert again.value.code == "conflict"
    assert await snapshot(ashop) == before
    await assert_books_balance(ashop)


async def test_two_concurrent_cancels_refund_once(
    ashop: AsyncShop, buyer: Customer, products: Products
) -> None:
    product = await products.create(quantity=5, price=800)
    order, _ = await ashop.orders.place(buyer.user, order_of((product, 2)))

    results = await asyncio.gather(
        ashop.orders.cancel(buyer.user, str(order.id)),
        ashop.orders.cancel(buyer.user, str(order.id)),
        return_exceptions=True,
    )

    assert sorted(type(r).__name__ for r in results) == ["Conflict", "OrderInDB"]
    assert await stock_of(ashop, product.id) == 5
    assert await balance_of(ashop, buyer.account_id) == OPENING_BALANCE
    assert await ashop.repositories.ledger.count({"kind": "refund"}) == 1
    await assert_books_balance(ashop)


async def test_only_the_buyer_or_an_admin_can_cancel(
    ashop: AsyncShop, customers: Customers, products: Products
) -> None:
    buyer, stranger = await customers.create(2)
    admin = await customers.one(admin=True)
    product = await products.create(quantity=5, price=800)
    order, _ = await ashop.orders.place(buyer.user, order_of((product, 1)))
    before = await snapshot(ashop)

    with pytest.raises(NotFound):
        await ashop.orders.cancel(stranger.user, str(order.id))
    with pytest.raises(NotFound):
        await ashop.orders.cancel(buyer.user, str(ObjectId()))
    with pytest.raises(InvalidId):
        await ashop.orders.cancel(buyer.user, "nope")
    assert await snapshot(ashop) == before

    cancelled = await ashop.orders.cancel(admin.user, str(order.id))

    assert cancelled.status is OrderStatus.CANCELLED
    assert await stock_of(ashop, product.id) == 5
    # The refund goes to the buyer's wallet, not the admin's.
    assert await balance_of(ashop, buyer.account_id) == OPENING_BALANCE
    assert await balance_of(ashop, admin.account_id) == OPENING_BALANCE
    await assert_books_balance(ashop)


# --- cancellation rules and the stock bound -----------------------------------------------


async def test_a_cancellation_that_would_pass_the_stock_bound_is_refused_whole(
    ashop: AsyncShop, buyer: Customer, products: Products
) -> None:
    product = await products.create(quantity=10, price=100)
    order, _ = await ashop.orders.place(buyer.user, order_of((product, 3)))
    # Meanwhile the admin restocked to the very bound.
    await ashop.catalog.change_inventory(str(product.id), MAX_QUANTITY - 7)
    before = await snapshot(ashop)

    with pytest.raises(StockLimitExceeded):
        await ashop.orders.cancel(buyer.user, str(order.id))

    assert await snapshot(ashop) == before
    assert await stock_of(ashop, product.id) == MAX_QUANTITY


async def test_a_product_stored_past_the_stock_bound_still_loads_lists_and_sells(
    ashop: AsyncShop, buyer: Customer, products: Products
) -> None:
    """Written by another tool or an old version: nothing that reads it answers an error."""
    product = await products.create(quantity=10, price=100, category="bound")
    await ashop.database.products.update_one(
        {"_id": product.id}, {"$set": {"inventory.quantity": MAX_QUANTITY + 5}}
    )

    assert (await ashop.catalog.get(str(product.id))).inventory.quantity == MAX_QUANTITY + 5
    page = await ashop.catalog.search(ProductQuery(category="bound"), PageRequest())
    assert [p.id for p in page.items] == [product.id]
    await ashop.orders.place(buyer.user, order_of((product, 6)))
    assert await stock_of(ashop, product.id) == MAX_QUANTITY - 1


async def test_a_document_that_does_not_load_is_left_out_of_a_listing(
    ashop: AsyncShop, products: Products
) -> None:
    good = await products.create(quantity=1, price=100, category="mixed")
    bad = await products.create(quantity=1, price=100, category="mixed")
    await ashop.database.products.update_one(
        {"_id": bad.id}, {"$unset": {"price": ""}}, bypass_document_validation=True
    )

    page = await ashop.catalog.search(ProductQuery(category="mixed"), PageRequest())

    assert [p.id for p in page.items] == [good.id]


async def test_a_buyer_cancels_within_the_window_an_admin_any_time(
    ashop: AsyncShop, customers: Customers, products: Products
) -> None:
    (buyer,) = await customers.create(1, balance=50_000)
    (admin,) = await customers.create(1, admin=True)
    product = await products.create(quantity=10, price=100)
    old, _ = await ashop.orders.place(
        buyer.user, order_of((product, 1)), placed_at=utcnow() - timedelta(hours=25)
    )
    recent, _ = await ashop.orders.place(
        buyer.user, order_of((product, 1)), placed_at=utcnow() - timedelta(hours=23)
    )

    with pytest.raises(CancellationWindowClosed):
        await ashop.orders.cancel(buyer.user, str(old.id))
    assert (await ashop.orders.cancel(buyer.user, str(recent.id))).status is OrderStatus.CANCELLED
    assert (await ashop.orders.cancel(admin.user, str(old.id))).status is OrderStatus.CANCELLED
