"""The sync face's money use cases against the real server: orders, cancellations,
transfers, credits, keyset pages and the guarded stock, as a batch job or a Flask
view would call them (the async face has its own tests of the same behaviour)."""

from __future__ import annotations

import pytest

from mongoshop._sync.shop import Shop
from mongoshop.errors import (
    Conflict,
    IdempotencyKeyReused,
    InsufficientFunds,
    NotFound,
    OutOfStock,
    ValidationFailed,
)
from mongoshop.models.common import PageRequest
from mongoshop.models.money import Money
from mongoshop.models.orders import OrderItemRequest, OrderRequest, OrderStatus
from mongoshop.models.products import Inventory, ProductCreate
from mongoshop.models.users import UserCreate, UserInDB
from mongoshop.models.wallet import CreditRequest, TransferRequest


def buyer(shop: Shop, name: str, funds: int = 0) -> UserInDB:
    user = shop.users.register(
        UserCreate(name=name, email=f"{name.lower()}@example.com", password="password-1"),
        verified=True,
    )
    if funds:
        account = shop.wallet.account_of(user)
        shop.wallet.credit(
            str(account.id),
            CreditRequest(amount=funds, currency=shop.settings.currency, reason="test funds"),
        )
    return user


def product(shop: Shop, name: str, price: int, stock: int) -> str:
    created = shop.catalog.create(
        ProductCreate(
            name=name,
            category="kitchen",
            price=Money(amount=price, currency=shop.settings.currency),
            inventory=Inventory(quantity=stock),
        )
    )
    return str(created.id)


def one(product_id: str, quantity: int = 1) -> OrderRequest:
    return OrderRequest(items=[OrderItemRequest(product_id=product_id, quantity=quantity)])


def balance(shop: Shop, user: UserInDB) -> int:
    return shop.wallet.account_of(user).balance


def stock(shop: Shop, product_id: str) -> int:
    return shop.catalog.get(product_id).inventory.quantity


def test_an_order_and_its_cancellation_move_stock_and_money_both_ways(shop: Shop) -> None:
    ada = buyer(shop, "Ada", funds=10_000)
    teapot = product(shop, "Teapot", price=2_500, stock=3)

    order, replayed = shop.orders.place(ada, one(teapot, 2))

    assert not replayed
    assert (stock(shop, teapot), balance(shop, ada)) == (1, 5_000)
    kinds = [entry.kind.value for entry in shop.wallet.history(ada, PageRequest()).items]
    assert kinds == ["order", "credit"]

    cancelled = shop.orders.cancel(ada, str(order.id))

    assert cancelled.status is OrderStatus.CANCELLED
    assert (stock(shop, teapot), balance(shop, ada)) == (3, 10_000)
    with pytest.raises(Conflict):
        shop.orders.cancel(ada, str(order.id))
    assert shop.repositories.ledger.sum_for(shop.wallet.account_of(ada).id) == 10_000


def test_a_refused_order_changes_nothing(shop: Shop) -> None:
    ada = buyer(shop, "Ada", funds=1_000)
    teapot = product(shop, "Teapot", price=2_500, stock=1)
    cup = product(shop, "Cup", price=100, stock=5)

    with pytest.raises(InsufficientFunds):
        shop.orders.place(ada, one(teapot))
    with pytest.raises(OutOfStock):
        shop.orders.place(
            ada,
            OrderRequest(
                items=[
                    OrderItemRequest(product_id=cup, quantity=1),
                    OrderItemRequest(product_id=teapot, quantity=2),
                ]
            ),
        )

    assert (stock(shop, teapot), stock(shop, cup), balance(shop, ada)) == (1, 5, 1_000)
    assert shop.repositories.orders.count_for(ada.id) == 0


def test_a_retried_order_is_placed_once_and_a_reused_key_is_refused(shop: Shop) -> None:
    ada = buyer(shop, "Ada", funds=1_000)
    cup = product(shop, "Cup", price=100, stock=10)

    first, _ = shop.orders.place(ada, one(cup, 2), "retry-1")
    again, replayed = shop.orders.place(ada, one(cup, 2), "retry-1")

    assert replayed
    assert again.id == first.id
    assert (stock(shop, cup), balance(shop, ada)) == (8, 800)
    with pytest.raises(IdempotencyKeyReused):
        shop.orders.place(ada, one(cup, 3), "retry-1")


def test_a_transfer_moves_money_once_per_key(shop: Shop) -> None:
    ada, bob = buyer(shop, "Ada", funds=1_000), buyer(shop, "Bob")
    to_bob = TransferRequest(
        to_account_id=str(shop.wallet.account_of(bob).id),
        amount=300,
        currency=shop.settings.currency,
    )

    shop.wallet.transfer(ada, to_bob, "t-1")
    _, replayed = shop.wallet.transfer(ada, to_bob, "t-1")

    assert replayed
    assert (balance(shop, ada), balance(shop, bob)) == (700, 300)
    with pytest.raises(ValidationFailed, match="same account"):
        shop.wallet.transfer(
            ada,
            TransferRequest(
                to_account_id=str(shop.wallet.account_of(ada).id),
                amount=1,
                currency=shop.settings.currency,
            ),
        )
    with pytest.raises(NotFound):
        shop.wallet.transfer(
            ada,
            TransferRequest(to_account_id="0" * 24, amount=1, currency=shop.settings.currency),
        )
    assert balance(shop, ada) == 700


def test_orders_and_the_ledger_page_after_an_id(shop: Shop) -> None:
    ada = buyer(shop, "Ada", funds=10_000)
    cup = product(shop, "Cup", price=10, stock=100)
    placed = [shop.orders.place(ada, one(cup))[0].id for _ in range(5)]

    seen = []
    page = shop.orders.list_for(ada, PageRequest(page_size=2))
    while True:
        seen += [order.id for order in page.items]
        if page.next_after is None:
            break
        page = shop.orders.list_for(ada, PageRequest(page_size=2, after=page.next_after))

    assert seen == list(reversed(placed))
    entries = shop.wallet.history(ada, PageRequest(page_size=100)).items
    after_first = shop.wallet.history(ada, PageRequest(page_size=100, after=entries[0].id))
    assert [e.id for e in after_first.items] == [e.id for e in entries[1:]]


def test_stock_changes_are_guarded(shop: Shop) -> None:
    cup = product(shop, "Cup", price=10, stock=2)

    assert shop.catalog.change_inventory(cup, -2).inventory.quantity == 0
    with pytest.raises(OutOfStock):
        shop.catalog.change_inventory(cup, -1)
    with pytest.raises(NotFound):
        shop.catalog.change_inventory("0" * 24, 1)
    assert stock(shop, cup) == 0
