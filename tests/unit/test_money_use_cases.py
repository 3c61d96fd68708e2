"""The money use cases (placing and cancelling an order, a transfer) without a database.

The services run over in-memory fakes (`tests.unit.fakes`): what is checked
here is their logic (totals, ledger entries, refusals, replays, all or nothing
across the steps of one use case); the integration tests check the same against
the real server, with its indexes, transactions and concurrency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from mongoshop._async.services.orders import AsyncOrderService
from mongoshop._async.services.wallet import AsyncWalletService
from mongoshop.errors import (
    CancellationWindowClosed,
    Conflict,
    EmailNotVerified,
    IdempotencyKeyReused,
    InsufficientFunds,
    NotFound,
    OutOfStock,
    ValidationFailed,
)
from mongoshop.models.orders import OrderItemRequest, OrderRequest, OrderStatus
from mongoshop.models.users import Role, UserInDB
from mongoshop.models.wallet import TransferRequest
from tests.unit.fakes import (
    FakeAccounts,
    FakeLedger,
    FakeOrders,
    FakeProducts,
    FakeTransactions,
    FakeTransfers,
)

CURRENCY = "EUR"


def person(*, verified: bool = True, admin: bool = False) -> UserInDB:
    now = datetime.now(UTC)
    return UserInDB(
        _id=ObjectId(),
        name="Ada",
        email=f"{ObjectId()}@example.com",
        roles=[Role.USER, Role.ADMIN] if admin else [Role.USER],
        email_verified=verified,
        created_at=now,
        updated_at=now,
    )


class MovingClock:
    """The services' clock, moved by the test: a window passes without waiting."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Shop:
    products: FakeProducts
    accounts: FakeAccounts
    ledger: FakeLedger
    orders: FakeOrders
    transfers: FakeTransfers
    transactions: FakeTransactions
    wallet: AsyncWalletService
    ordering: AsyncOrderService
    clock: MovingClock

    async def funded(self, user: UserInDB, amount: int) -> ObjectId:
        account = await self.wallet.account_of(user)
        await self.accounts.credit(account.id, amount, CURRENCY, datetime.now(UTC))
        return account.id


@pytest.fixture
def shop() -> Shop:
    products, accounts, ledger = FakeProducts(), FakeAccounts(), FakeLedger()
    orders, transfers = FakeOrders(), FakeTransfers()
    transactions = FakeTransactions(products, accounts, ledger, orders, transfers)
    clock = MovingClock()
    wallet = AsyncWalletService(
        accounts,  # type: ignore[arg-type]
        ledger,  # type: ignore[arg-type]
        transfers,  # type: ignore[arg-type]
        transactions,  # type: ignore[arg-type]
        CURRENCY,
        clock=clock,
    )
    ordering = AsyncOrderService(
        orders,  # type: ignore[arg-type]
        products,  # type: ignore[arg-type]
        wallet,
        transactions,  # type: ignore[arg-type]
        CURRENCY,
        users=None,  # type: ignore[arg-type]
        cancel_window=timedelta(hours=1),
        clock=clock,
    )
    return Shop(
        products, accounts, ledger, orders, transfers, transactions, wallet, ordering, clock
    )


def order_of(*lines: tuple[ObjectId, int]) -> OrderRequest:
    return OrderRequest(
        items=[OrderItemRequest(product_id=str(pid), quantity=qty) for pid, qty in lines]
    )


# --- placing an order -----------------------------------------------------------------


async def test_an_order_takes_stock_and_money_and_writes_one_ledger_entry(shop: Shop) -> None:
    buyer = person()
    account = await shop.funded(buyer, 10_000)
    teapot = shop.products.add("Teapot", price=2_500, stock=5)
    cup = shop.products.add("Cup", price=400, stock=10)

    order, replayed = await shop.ordering.place(buyer, order_of((teapot, 1), (cup, 3)))

    assert not replayed
    assert order.total.amount == 2_500 + 3 * 400
    assert [(item.name, item.quantity, item.unit_price) for item in order.items] == [
        ("Teapot", 1, 2_500),
        ("Cup", 3, 400),
    ]
    assert (shop.products.stock(teapot), shop.products.stock(cup)) == (4, 7)
    assert shop.accounts.balance(account) == 10_000 - 3_700
    assert shop.ledger.entries(account) == [("order", -3_700)]
    assert order.status is OrderStatus.COMPLETED


async def test_the_same_product_twice_is_one_line_and_one_stock_check(shop: Shop) -> None:
    buyer = person()
    await shop.funded(buyer, 10_000)
    cup = shop.products.add("Cup", price=100, stock=3)

    order, _ = await shop.ordering.place(buyer, order_of((cup, 2), (cup, 1)))

    assert [(item.name, item.quantity) for item in order.items] == [("Cup", 3)]
    assert shop.products.stock(cup) == 0


async def test_a_missing_unit_of_the_last_line_changes_nothing_at_all(shop: Shop) -> None:
    buyer = person()
    account = await shop.funded(buyer, 10_000)
    teapot = shop.products.add("Teapot", price=2_500, stock=5)
    cup = shop.products.add("Cup", price=400, stock=1)

    with pytest.raises(OutOfStock):
        await shop.ordering.place(buyer, order_of((teapot, 1), (cup, 2)))

    assert (shop.products.stock(teapot), shop.products.stock(cup)) == (5, 1)
    assert shop.accounts.balance(account) == 10_000
    assert shop.orders.documents == {}
    assert shop.ledger.entries(account) == []


async def test_too_little_money_puts_the_stock_back(shop: Shop) -> None:
    buyer = person()
    account = await shop.funded(buyer, 100)
    teapot = shop.products.add("Teapot", price=2_500, stock=5)

    with pytest.raises(InsufficientFunds):
        await shop.ordering.place(buyer, order_of((teapot, 1)))

    assert shop.products.stock(teapot) == 5
    assert shop.accounts.balance(account) == 100
    assert shop.orders.documents == {}


async def test_a_product_priced_in_another_currency_is_refused(shop: Shop) -> None:
    buyer = person()
    await shop.funded(buyer, 10_000)
    foreign = shop.products.add("Kettle", price=100, stock=5, currency="USD")

    with pytest.raises(ValidationFailed, match="EUR"):
        await shop.ordering.place(buyer, order_of((foreign, 1)))

    assert shop.products.stock(foreign) == 5


async def test_an_unverified_buyer_orders_nothing(shop: Shop) -> None:
    buyer = person(verified=False)
    cup = shop.products.add("Cup", price=1, stock=1)

    with pytest.raises(EmailNotVerified):
        await shop.ordering.place(buyer, order_of((cup, 1)))

    assert shop.transactions.runs == 0
    assert shop.products.stock(cup) == 1


async def test_a_retried_order_is_placed_once(shop: Shop) -> None:
    buyer = person()
    account = await shop.funded(buyer, 10_000)
    cup = shop.products.add("Cup", price=100, stock=10)

    first, first_replayed = await shop.ordering.place(buyer, order_of((cup, 2)), "key-1")
    again, replayed = await shop.ordering.place(buyer, order_of((cup, 2)), "key-1")

    assert (first_replayed, replayed) == (False, True)
    assert again.id == first.id
    assert shop.products.stock(cup) == 8
    assert shop.accounts.balance(account) == 10_000 - 200
    assert len(shop.orders.documents) == 1


async def test_a_key_reused_for_another_order_is_refused(shop: Shop) -> None:
    buyer = person()
    await shop.funded(buyer, 10_000)
    cup = shop.products.add("Cup", price=100, stock=10)
    await shop.ordering.place(buyer, order_of((cup, 2)), "key-1")

    with pytest.raises(IdempotencyKeyReused):
        await shop.ordering.place(buyer, order_of((cup, 3)), "key-1")

    assert shop.products.stock(cup) == 8


# --- cancelling -----------------------------------------------------------------------


async def test_cancelling_restocks_refunds_and_records_the_refund(shop: Shop) -> None:
    buyer = person()
    account = await shop.funded(buyer, 10_000)
    cup = shop.products.add("Cup", price=100, stock=10)
    order, _ = await shop.ordering.place(buyer, order_of((cup, 4)))

    cancelled = await shop.ordering.cancel(buyer, str(order.id))

    assert cancelled.status is OrderStatus.CANCELLED
    assert shop.products.stock(cup) == 10
    assert shop.accounts.balance(account) == 10_000
    assert shop.ledger.entries(account) == [("order", -400), ("refund", 400)]


async def test_an_order_is_cancelled_once(shop: Shop) -> None:
    buyer = person()
    account = await shop.funded(buyer, 10_000)
    cup = shop.products.add("Cup", price=100, stock=10)
    order, _ = await shop.ordering.place(buyer, order_of((cup, 1)))
    await shop.ordering.cancel(buyer, str(order.id))

    with pytest.raises(Conflict, match="already cancelled"):
        await shop.ordering.cancel(buyer, str(order.id))

    assert shop.products.stock(cup) == 10
    assert shop.accounts.balance(account) == 10_000


async def test_only_the_buyer_or_an_admin_cancels(shop: Shop) -> None:
    buyer, stranger, admin = person(), person(), person(admin=True)
    await shop.funded(buyer, 10_000)
    cup = shop.products.add("Cup", price=100, stock=10)
    order, _ = await shop.ordering.place(buyer, order_of((cup, 1)))

    with pytest.raises(NotFound):
        await shop.ordering.cancel(stranger, str(order.id))
    assert (await shop.ordering.cancel(admin, str(order.id))).status is OrderStatus.CANCELLED


async def test_a_buyer_cancels_within_the_window_and_an_admin_after_it(shop: Shop) -> None:
    buyer, admin = person(), person(admin=True)
    await shop.funded(buyer, 10_000)
    cup = shop.products.add("Cup", price=100, stock=10)
    order, _ = await shop.ordering.place(buyer, order_of((cup, 1)))
    assert order.created_at == shop.clock.now  # placed at the services' time
    shop.clock.advance(timedelta(minutes=59))
    assert (await shop.ordering.cancel(buyer, str(order.id))).status is OrderStatus.CANCELLED
    order, _ = await shop.ordering.place(buyer, order_of((cup, 1)))
    shop.clock.advance(timedelta(hours=1, seconds=1))

    with pytest.raises(CancellationWindowClosed):
        await shop.ordering.cancel(buyer, str(order.id))
    assert shop.products.stock(cup) == 9
    assert (await shop.ordering.cancel(admin, str(order.id))).status is OrderStatus.CANCELLED


# --- transfers ------------------------------------------------------------------------


def transfer_to(account: ObjectId, amount: int, currency: str = CURRENCY) -> TransferRequest:
    return TransferRequest(to_account_id=str(account), amount=amount, currency=currency)


async def test_an_order_and_its_cancellation_wait_their_turn_on_what_they_write(
    shop: Shop,
) -> None:
    buyer = person()
    account = await shop.funded(buyer, 10_000)
    cup, mug = shop.products.add("Cup", price=100, stock=10), shop.products.add("Mug", 50, 5)
    order, _ = await shop.ordering.place(buyer, order_of((cup, 1), (mug, 2)))
    await shop.ordering.cancel(buyer, str(order.id))

    placed, cancelled = shop.transactions.keys
    assert placed == sorted([f"products:{cup}", f"products:{mug}", f"accounts:{account}"])
    assert cancelled == sorted([*placed, f"orders:{order.id}"])
    # Buyers of the order's first product (by id) may share its transaction; a
    # cancellation runs alone.
    assert shop.transactions.batches == [f"products:{min(cup, mug)}", None]


async def test_a_transfer_waits_its_turn_on_both_accounts(shop: Shop) -> None:
    payer, payee = person(), person()
    source = await shop.funded(payer, 1_000)
    target = (await shop.wallet.account_of(payee)).id

    await shop.wallet.transfer(payer, transfer_to(target, 300))

    assert shop.transactions.keys == [sorted([f"accounts:{source}", f"accounts:{target}"])]


async def test_a_transfer_moves_money_with_both_legs_in_the_ledger(shop: Shop) -> None:
    payer, payee = person(), person()
    source = await shop.funded(payer, 1_000)
    target = (await shop.wallet.account_of(payee)).id

    transfer, replayed = await shop.wallet.transfer(payer, transfer_to(target, 300))

    assert not replayed
    assert (shop.accounts.balance(source), shop.accounts.balance(target)) == (700, 300)
    assert shop.ledger.entries(source) == [("transfer_out", -300)]
    assert shop.ledger.entries(target) == [("transfer_in", 300)]
    assert (transfer.from_account_id, transfer.to_account_id) == (source, target)


async def test_a_transfer_to_an_unknown_account_moves_nothing(shop: Shop) -> None:
    payer = person()
    source = await shop.funded(payer, 1_000)

    with pytest.raises(NotFound):
        await shop.wallet.transfer(payer, transfer_to(ObjectId(), 300))

    assert shop.accounts.balance(source) == 1_000
    assert shop.ledger.entries(source) == []
    assert shop.transfers.documents == {}


async def test_a_transfer_is_refused_before_anything_moves(shop: Shop) -> None:
    payer, payee = person(), person()
    source = await shop.funded(payer, 100)
    target = (await shop.wallet.account_of(payee)).id

    with pytest.raises(InsufficientFunds):
        await shop.wallet.transfer(payer, transfer_to(target, 300))
    with pytest.raises(ValidationFailed, match="same account"):
        await shop.wallet.transfer(payer, transfer_to(source, 1))
    with pytest.raises(ValidationFailed, match="EUR"):
        await shop.wallet.transfer(payer, transfer_to(target, 1, "USD"))
    with pytest.raises(EmailNotVerified):
        await shop.wallet.transfer(person(verified=False), transfer_to(target, 1))

    assert (shop.accounts.balance(source), shop.accounts.balance(target)) == (100, 0)


async def test_a_retried_transfer_moves_money_once(shop: Shop) -> None:
    payer, payee = person(), person()
    source = await shop.funded(payer, 1_000)
    target = (await shop.wallet.account_of(payee)).id
    # The account id in upper case is the same request.
    upper = TransferRequest(to_account_id=str(target).upper(), amount=300, currency=CURRENCY)

    first, _ = await shop.wallet.transfer(payer, transfer_to(target, 300), "t-1")
    again, replayed = await shop.wallet.transfer(payer, upper, "t-1")

    assert replayed
    assert again.id == first.id
    assert shop.accounts.balance(source) == 700
    with pytest.raises(IdempotencyKeyReused):
        await shop.wallet.transfer(payer, transfer_to(target, 301), "t-1")
