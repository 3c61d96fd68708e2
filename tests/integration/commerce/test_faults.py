"""Fault injection: a failed commit or a dropped connection mid-transaction is retried,
and the transfer or order still happens exactly once.

Uses the server's `failCommand` failpoint through `tests.integration.helpers`.
"""

from __future__ import annotations

from typing import Any

import pytest

from mongoshop._async.shop import AsyncShop
from mongoshop.models.orders import OrderItemRequest, OrderRequest
from mongoshop.models.wallet import TransferRequest
from tests.integration.helpers import (
    OPENING_BALANCE,
    Customers,
    Faulty,
    Products,
    assert_books_balance,
    assert_fired,
    balance_of,
    stock_of,
)

TRANSIENT_COMMIT = {
    "failCommands": ["commitTransaction"],
    "errorCode": 112,  # WriteConflict
    "errorLabels": ["TransientTransactionError"],
}
UNKNOWN_COMMIT = {
    "failCommands": ["commitTransaction"],
    "errorCode": 64,  # WriteConcernFailed: did it commit? the driver retries the commit
    "errorLabels": ["UnknownTransactionCommitResult"],
}
COMMIT_CONNECTION_DROPPED = {"failCommands": ["commitTransaction"], "closeConnection": True}
# The first update of a transfer is the guarded debit; of an order, the stock take.
UPDATE_CONNECTION_DROPPED = {"failCommands": ["update"], "closeConnection": True}
INSERT_CONNECTION_DROPPED = {"failCommands": ["insert"], "closeConnection": True}

FAULTS = {
    "transient-commit": TRANSIENT_COMMIT,
    "unknown-commit-result": UNKNOWN_COMMIT,
    "commit-connection-dropped": COMMIT_CONNECTION_DROPPED,
    "update-connection-dropped": UPDATE_CONNECTION_DROPPED,
    "insert-connection-dropped": INSERT_CONNECTION_DROPPED,
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
async def test_a_transfer_completes_exactly_once(
    ashop: AsyncShop, faulty: Faulty, customers: Customers, fault: dict[str, Any]
) -> None:
    alice, bob = await customers.create(2)
    request = TransferRequest(
        to_account_id=str(bob.account_id), amount=2_500, currency=ashop.settings.currency
    )

    async with faulty.failing_once(**fault):
        transfer, replay = await faulty.shop.wallet.transfer(alice.user, request)

    assert_fired(faulty.log, fault)
    assert not replay
    assert await ashop.repositories.transfers.count() == 1
    assert (await ashop.repositories.transfers.get(transfer.id)).amount == 2_500
    legs = await ashop.repositories.ledger.find_many({"reference_id": transfer.id})
    assert sorted(leg.amount for leg in legs) == [-2_500, 2_500]
    assert await ashop.repositories.ledger.count() == 2 + 2  # two openings, two legs
    assert await balance_of(ashop, alice.account_id) == OPENING_BALANCE - 2_500
    assert await balance_of(ashop, bob.account_id) == OPENING_BALANCE + 2_500
    await assert_books_balance(ashop)


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
async def test_an_order_completes_exactly_once(
    ashop: AsyncShop,
    faulty: Faulty,
    customers: Customers,
    products: Products,
    fault: dict[str, Any],
) -> None:
    buyer = await customers.one()
    first = await products.create(quantity=5, price=1_000)
    second = await products.create(quantity=5, price=300)
    request = OrderRequest(
        items=[
            OrderItemRequest(product_id=str(first.id), quantity=2),
            OrderItemRequest(product_id=str(second.id), quantity=1),
        ]
    )

    async with faulty.failing_once(**fault):
        order, replay = await faulty.shop.orders.place(buyer.user, request, "checkout-1")

    assert_fired(faulty.log, fault)
    assert not replay
    assert order.total.amount == 2_300
    assert await ashop.repositories.orders.count() == 1
    assert await stock_of(ashop, first.id) == 3
    assert await stock_of(ashop, second.id) == 4
    assert await balance_of(ashop, buyer.account_id) == OPENING_BALANCE - 2_300
    assert await ashop.repositories.ledger.count({"kind": "order"}) == 1
    await assert_books_balance(ashop)


CANCEL_FAULTS = {
    "restock-update-connection-dropped": {"failCommands": ["update"], "closeConnection": True},
    "transient-commit": TRANSIENT_COMMIT,
    "unknown-commit-result": UNKNOWN_COMMIT,
}


@pytest.mark.parametrize("fault", CANCEL_FAULTS.values(), ids=CANCEL_FAULTS.keys())
async def test_a_cancel_restocks_and_refunds_exactly_once(
    ashop: AsyncShop,
    faulty: Faulty,
    customers: Customers,
    products: Products,
    fault: dict[str, Any],
) -> None:
    buyer = await customers.one()
    product = await products.create(quantity=5, price=1_000)
    request = OrderRequest(items=[OrderItemRequest(product_id=str(product.id), quantity=3)])
    order, _ = await ashop.orders.place(buyer.user, request)

    async with faulty.failing_once(**fault):
        await faulty.shop.orders.cancel(buyer.user, str(order.id))

    assert_fired(faulty.log, fault)
    assert await stock_of(ashop, product.id) == 5
    assert await balance_of(ashop, buyer.account_id) == OPENING_BALANCE
    assert await ashop.repositories.ledger.count({"kind": "refund"}) == 1
    await assert_books_balance(ashop)
