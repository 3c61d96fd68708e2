"""Buyers of one product who queue at once share a transaction (`AsyncTransactions.run`'s
`batch`), and a buyer who is refused does not sink the others.

Each buyer's order is still all or nothing: its stock, its debit, its ledger entry
and the order itself are committed together, once. What a batch changes is that
twenty orders placed at once cost a few commits instead of twenty; what it must not
change is any buyer's answer.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from mongoshop._async.shop import AsyncShop
from mongoshop._async.transactions import AsyncTransactions
from mongoshop.deadlines import deadline
from mongoshop.errors import InsufficientFunds, OutOfStock
from mongoshop.models.orders import OrderRequest
from tests.integration.helpers import (
    Customers,
    Products,
    assert_books_balance,
    balance_of,
    stock_of,
)

REQUEST_DEADLINE = 5.0


def order_of(product_id: ObjectId, quantity: int = 1) -> OrderRequest:
    return OrderRequest.model_validate(
        {"items": [{"product_id": str(product_id), "quantity": quantity}]}
    )


@pytest.fixture
def commits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per transaction committed, from every `AsyncTransactions`."""
    counted: list[int] = []
    commit = AsyncTransactions._commit

    async def counting(self: AsyncTransactions, *args: Any) -> None:
        await commit(self, *args)
        counted.append(1)

    monkeypatch.setattr(AsyncTransactions, "_commit", counting)
    return counted


async def test_orders_placed_at_once_share_commits_and_each_is_taken_once(
    ashop: AsyncShop,
    customers: Customers,
    products: Products,
    commits: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    people = await customers.create(10, balance=10_000)
    product = await products.create(quantity=100, price=100)
    inserts: list[str] = []
    for method in ("insert_one", "insert_many"):
        original = getattr(AsyncCollection, method)

        async def counted(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            inserts.append(self.name)
            return await _original(self, *args, **kwargs)

        monkeypatch.setattr(AsyncCollection, method, counted)

    async def buy(n: int) -> None:
        with deadline(REQUEST_DEADLINE):
            await ashop.orders.place(people[n % 10].user, order_of(product.id), uuid.uuid4().hex)

    # The product is busy (an admin's stock change, say) while the forty orders arrive:
    # they queue, as a crowd does, and are served in batches once it is free.
    transactions = ashop.orders.transactions
    funded = len(commits)
    async with transactions.locks.holding([ashop.repositories.products.key(product.id)], None):
        buyers = asyncio.gather(*(buy(n) for n in range(40)))
        await asyncio.sleep(1.0)
    await buyers

    assert await stock_of(ashop, product.id) == 60
    assert await ashop.repositories.orders.count({"items.product_id": product.id}) == 40
    for person in people:
        assert await balance_of(ashop, person.account_id) == 10_000 - 4 * 100
    await assert_books_balance(ashop)
    assert len(commits) - funded <= 4, "the queued orders did not share their commits"
    # Each batch sends its orders and its ledger entries as one insert each.
    assert inserts.count("orders") <= 4, inserts
    assert inserts.count("ledger") <= 4, inserts
    assert len(ashop.orders.transactions.batches) == 0, "a batch's queue was left behind"
    assert len(ashop.orders.transactions.locks) == 0


async def test_a_buyer_refused_in_a_batch_gets_the_refusal_and_the_others_their_orders(
    ashop: AsyncShop, customers: Customers, products: Products
) -> None:
    rich = await customers.create(9, balance=10_000)
    (poor,) = await customers.create(1, balance=50)
    product = await products.create(quantity=100, price=100)
    buyers = [*rich[:5], poor, *rich[5:]]

    async def buy(n: int) -> object:
        with deadline(REQUEST_DEADLINE):
            return await ashop.orders.place(buyers[n].user, order_of(product.id), uuid.uuid4().hex)

    outcomes = await asyncio.gather(*(buy(n) for n in range(10)), return_exceptions=True)

    assert isinstance(outcomes[5], InsufficientFunds)
    assert not any(isinstance(o, BaseException) for n, o in enumerate(outcomes) if n != 5)
    assert await stock_of(ashop, product.id) == 91
    assert await balance_of(ashop, poor.account_id) == 50
    for person in rich:
        assert await balance_of(ashop, person.account_id) == 10_000 - 100
    await assert_books_balance(ashop)


async def test_when_the_stock_runs_out_mid_batch_exactly_the_stock_is_sold(
    ashop: AsyncShop, customers: Customers, products: Products
) -> None:
    people = await customers.create(12, balance=10_000)
    product = await products.create(quantity=5, price=100)

    async def buy(n: int) -> object:
        with deadline(REQUEST_DEADLINE):
            return await ashop.orders.place(people[n].user, order_of(product.id), uuid.uuid4().hex)

    outcomes = await asyncio.gather(*(buy(n) for n in range(12)), return_exceptions=True)

    sold = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(sold) == 5
    assert all(isinstance(o, OutOfStock) for o in refused), refused
    assert await stock_of(ashop, product.id) == 0
    assert await ashop.repositories.orders.count({"items.product_id": product.id}) == 5
    await assert_books_balance(ashop)


async def test_one_idempotency_key_sent_twice_at_once_in_a_batch_places_one_order(
    ashop: AsyncShop, customers: Customers, products: Products
) -> None:
    people = await customers.create(6, balance=10_000)
    product = await products.create(quantity=100, price=100)
    key = uuid.uuid4().hex

    async def buy(n: int) -> tuple[Any, bool]:
        with deadline(REQUEST_DEADLINE):
            # Buyer 0 sends its order twice with one key; the others, one order each.
            return await ashop.orders.place(
                people[0 if n < 2 else n].user,
                order_of(product.id),
                key if n < 2 else uuid.uuid4().hex,
            )

    # Queued behind a busy product, the six form one batch: the key's second use is
    # refused by the unique index when the batch's orders are inserted together.
    async with ashop.orders.transactions.locks.holding(
        [ashop.repositories.products.key(product.id)], None
    ):
        pending = asyncio.gather(*(buy(n) for n in range(6)))
        await asyncio.sleep(1.0)
    outcomes = await pending

    (first, replayed_first), (second, replayed_second) = outcomes[:2]
    assert first.id == second.id
    assert sorted([replayed_first, replayed_second]) == [False, True]
    assert await stock_of(ashop, product.id) == 100 - 5
    assert await balance_of(ashop, people[0].account_id) == 10_000 - 100
    await assert_books_balance(ashop)
