"""Many buyers of one product, transfers among a few hot accounts, and requests that give up.

Each request runs under the API's deadline (`mongoshop.deadlines.deadline`), as it
does in the app. Writers of one document take turns (`AsyncTransactions.run`'s
keys), so under contention every request is answered with its result, never with
"unavailable"; and a request that gives up, whether its deadline expires while a
statement is in flight or it is cancelled, leaves no transaction open on the
server: the documents it wrote are free for the next writer at once.

The smallest reproduction of what an abandoned transaction did (docs/embedded-database.md)
is here too: a server-side delay on the order's insert makes the request's deadline
expire mid-transaction. With PyMongo's `with_transaction` alone the abort was never
sent and the product stayed locked (a plain write to it timed out) until the server
reaped the transaction.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from mongoshop._async.shop import AsyncShop
from mongoshop.deadlines import deadline
from mongoshop.errors import Busy, DatabaseUnavailable
from mongoshop.models.common import Document
from mongoshop.models.orders import OrderRequest
from mongoshop.models.wallet import TransferRequest
from tests.integration.helpers import (
    Customers,
    Faulty,
    Products,
    assert_books_balance,
    balance_of,
    stock_of,
)

REQUEST_DEADLINE = 5.0
"""The API's default (MONGOSHOP_OPERATION_TIMEOUT_SECONDS)."""
SEED = 20_261_202


def order_of(product_id: ObjectId, quantity: int = 1) -> OrderRequest:
    return OrderRequest.model_validate(
        {"items": [{"product_id": str(product_id), "quantity": quantity}]}
    )


async def test_twenty_buyers_of_one_product_all_get_their_order(
    ashop: AsyncShop, customers: Customers, products: Products
) -> None:
    people = await customers.create(5, balance=1_000_000)
    product = await products.create(quantity=100, price=100)
    failures: list[BaseException] = []

    async def buyer(n: int) -> None:
        for _ in range(5):
            try:
                with deadline(REQUEST_DEADLINE):
                    await ashop.orders.place(
                        people[n % 5].user, order_of(product.id), uuid.uuid4().hex
                    )
            except Exception as exc:  # every failure is the test's finding
                failures.append(exc)

    await asyncio.gather(*(buyer(n) for n in range(20)))

    assert failures == []
    assert await stock_of(ashop, product.id) == 0
    assert await ashop.repositories.orders.count({"items.product_id": product.id}) == 100
    await assert_books_balance(ashop)
    assert len(ashop.orders.transactions.locks) == 0, "a turn was never given back"


async def test_transfers_among_six_accounts_from_eight_clients_all_go_through(
    ashop: AsyncShop, customers: Customers
) -> None:
    people = await customers.create(6, balance=100_000)
    rng = random.Random(SEED)
    currency = ashop.settings.currency
    plans = [[(*rng.sample(range(6), 2), rng.randint(1, 50)) for _ in range(15)] for _ in range(8)]
    failures: list[BaseException] = []

    async def client(plan: list[tuple[int, ...]]) -> None:
        for source, target, amount in plan:
            request = TransferRequest(
                to_account_id=str(people[target].account_id), amount=amount, currency=currency
            )
            try:
                with deadline(REQUEST_DEADLINE):
                    await ashop.wallet.transfer(people[source].user, request, uuid.uuid4().hex)
            except Exception as exc:
                failures.append(exc)

    await asyncio.gather(*(client(plan) for plan in plans))

    assert failures == []
    expected = {n: 100_000 for n in range(6)}
    for plan in plans:
        for source, target, amount in plan:
            expected[source] -= amount
            expected[target] += amount
    for n, person in enumerate(people):
        assert await balance_of(ashop, person.account_id) == expected[n]
    await assert_books_balance(ashop)


async def test_a_request_not_given_its_turn_in_time_is_busy_and_moves_nothing(
    ashop: AsyncShop, customers: Customers
) -> None:
    payer, payee = await customers.create(2)
    request = TransferRequest(
        to_account_id=str(payee.account_id), amount=10, currency=ashop.settings.currency
    )
    locks = ashop.wallet.transactions.locks
    async with locks.holding([ashop.wallet.account_key(payee.account_id)], None):
        started = time.monotonic()
        with pytest.raises(Busy), deadline(1.5):
            await ashop.wallet.transfer(payer.user, request, "busy-key")
        assert time.monotonic() - started < 1.5
    assert await balance_of(ashop, payer.account_id) == payer.opening
    assert await balance_of(ashop, payee.account_id) == payee.opening
    assert len(locks) == 0
    # Sent again, the same request goes through.
    transfer, replayed = await ashop.wallet.transfer(payer.user, request, "busy-key")
    assert not replayed
    assert transfer.amount == 10


async def _plain_write_completes(
    uri: str, database: str, product_id: ObjectId, within: float
) -> bool:
    """Whether another client's write to the product completes within `within` seconds
    (one attempt: a write blocked by an open transaction waits on the server)."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        uri, socketTimeoutMS=int(within * 1000), retryWrites=False
    )
    try:
        await client[database].products.update_one({"_id": product_id}, {"$set": {"probed": True}})
    except PyMongoError:
        return False
    finally:
        await client.close()
    return True


async def test_a_request_whose_deadline_expires_mid_transaction_leaves_nothing_held(
    faulty: Faulty, customers: Customers, products: Products, mongodb_uri: str
) -> None:
    shop = faulty.shop
    buyer = await customers.one()
    product = await products.create(quantity=5, price=100)
    request = order_of(product.id)
    # The server sits 2.5 s on the order's insert: the request's deadline (2 s, of which
    # the attempts get 1 s) expires while that statement is in flight.
    async with faulty.failing_once(failCommands=["insert"], blockConnection=True, blockTimeMS=2500):
        with pytest.raises((DatabaseUnavailable, PyMongoError)), deadline(2.0):
            await shop.orders.place(buyer.user, request, "gave-up")
        # Nothing of the attempt is held once the blocked statement ends: the product
        # takes another client's write (the abandoned transaction would keep it for a
        # minute and more).
        assert await _plain_write_completes(mongodb_uri, shop.database.name, product.id, 5.0)
    assert await stock_of(shop, product.id) == 5
    assert await balance_of(shop, buyer.account_id) == buyer.opening
    assert await shop.repositories.orders.count({"user_id": buyer.user.id}) == 0
    # The same request sent again is placed, once.
    _order, replayed = await shop.orders.place(buyer.user, request, "gave-up")
    assert not replayed
    assert await stock_of(shop, product.id) == 4


async def test_a_request_cancelled_mid_transaction_leaves_nothing_held(
    faulty: Faulty, customers: Customers, products: Products, mongodb_uri: str
) -> None:
    shop = faulty.shop
    buyer = await customers.one()
    product = await products.create(quantity=5, price=100)
    async with faulty.failing_once(failCommands=["insert"], blockConnection=True, blockTimeMS=1500):
        task = asyncio.create_task(shop.orders.place(buyer.user, order_of(product.id), "cut"))
        await asyncio.sleep(0.5)  # the transaction has written the stock and waits on insert
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await _plain_write_completes(mongodb_uri, shop.database.name, product.id, 5.0)
    assert await stock_of(shop, product.id) == 5
    assert await balance_of(shop, buyer.account_id) == buyer.opening
    assert len(shop.orders.transactions.locks) == 0


async def test_stock_taken_from_a_stale_read_is_sold_at_the_price_it_has_now(
    ashop: AsyncShop, products: Products
) -> None:
    """The order path reads its products before the transaction and takes their stock in
    it with one guarded update; a price changed in between is noticed in that update's
    filter, and the units are sold at the price the product has when they are taken."""
    seen = await products.create(quantity=10, price=500)
    await ashop.repositories.products.collection.update_one(
        {"_id": seen.id}, {"$set": {"price.amount": 650}}
    )
    repository = ashop.repositories.products

    async def take(session: object) -> object:
        return await repository.take_stock(seen, 3, seen.created_at, session=session)  # type: ignore[arg-type]

    taken = await ashop.orders.transactions.run(take)  # type: ignore[arg-type]

    assert taken.price.amount == 650  # type: ignore[attr-defined]
    assert await stock_of(ashop, seen.id) == 7
