"""Wallets: accounts, credits, transfers that are refused cleanly, history, idempotency."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from bson import ObjectId
from pydantic import ValidationError

from mongoshop._async.shop import AsyncShop
from mongoshop.clock import utcnow
from mongoshop.errors import (
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidId,
    NotFound,
    ValidationFailed,
)
from mongoshop.models.common import PageRequest
from mongoshop.models.users import UserCreate
from mongoshop.models.wallet import CreditRequest, EntryKind, TransferRequest
from tests.integration.helpers import (
    OPENING_BALANCE,
    Customer,
    Customers,
    assert_books_balance,
    balance_of,
    ledger_of,
)


def transfer_to(target: Customer | ObjectId | str, amount: int, currency: str) -> TransferRequest:
    account = target.account_id if isinstance(target, Customer) else target
    return TransferRequest(to_account_id=str(account), amount=amount, currency=currency)


async def snapshot(ashop: AsyncShop) -> dict[str, object]:
    """Everything a refused transfer must leave as it was."""
    return {
        "accounts": await ashop.repositories.accounts.collection.find({}, {"updated_at": 0})
        .sort("_id", 1)
        .to_list(),
        "ledger": await ashop.repositories.ledger.collection.find({}).sort("_id", 1).to_list(),
        "transfers": await ashop.repositories.transfers.collection.find({}).to_list(),
    }


# --- accounts -----------------------------------------------------------------------------


async def test_registration_opens_an_empty_account(ashop: AsyncShop) -> None:
    user = await ashop.users.register(
        UserCreate(name="Ana Lima", email="Ana@Example.com", password="secret-pass")
    )

    account = await ashop.repositories.accounts.find_by_user(user.id)
    assert account is not None
    assert account.balance == 0
    assert account.currency == ashop.settings.currency
    assert (await ashop.wallet.account_of(user)).id == account.id
    assert await ashop.repositories.accounts.count({"user_id": user.id}) == 1
    assert await ashop.repositories.ledger.count({"account_id": account.id}) == 0


async def test_credit_adds_a_ledger_entry_with_its_reason(
    ashop: AsyncShop, customers: Customers
) -> None:
    person = await customers.one(balance=0)
    currency = ashop.settings.currency

    account = await ashop.wallet.credit(
        str(person.account_id), CreditRequest(amount=2_500, currency=currency, reason="gift card")
    )

    assert account.balance == 2_500
    entries = await ledger_of(ashop, person.account_id)
    assert [(e["kind"], e["amount"], e["reason"]) for e in entries] == [
        ("credit", 2_500, "gift card")
    ]
    assert entries[0]["reference_id"] is None


async def test_refused_credits_change_nothing(ashop: AsyncShop, buyer: Customer) -> None:
    before = await snapshot(ashop)
    wrong = "USD" if ashop.settings.currency != "USD" else "EUR"

    with pytest.raises(ValidationFailed):
        await ashop.wallet.credit(
            str(buyer.account_id), CreditRequest(amount=100, currency=wrong, reason="x")
        )
    with pytest.raises(NotFound):
        await ashop.wallet.credit(
            str(ObjectId()),
            CreditRequest(amount=100, currency=ashop.settings.currency, reason="x"),
        )
    with pytest.raises(InvalidId):
        await ashop.wallet.credit(
            "nope", CreditRequest(amount=100, currency=ashop.settings.currency, reason="x")
        )
    for amount in (0, -5):
        with pytest.raises(ValidationError):
            CreditRequest(amount=amount, currency=ashop.settings.currency, reason="x")

    assert await snapshot(ashop) == before


async def test_history_is_newest_first_and_paginated(
    ashop: AsyncShop, customers: Customers
) -> None:
    person = await customers.one(balance=1_000)
    for amount in (1, 2, 3, 4, 5):
        await customers.fund(person, amount, reason=f"credit {amount}")

    first = await ashop.wallet.history(person.user, PageRequest(page=1, page_size=4))
    second = await ashop.wallet.history(person.user, PageRequest(page=2, page_size=4))
    third = await ashop.wallet.history(person.user, PageRequest(page=3, page_size=4))

    assert [entry.amount for entry in first.items] == [5, 4, 3, 2]
    assert [entry.amount for entry in second.items] == [1, 1_000]
    assert third.items == []
    assert (first.total, first.page, first.page_size, first.total_pages) == (6, 1, 4, 2)
    assert (second.total, second.page, second.total_pages) == (6, 2, 2)
    stamps = [entry.created_at for entry in [*first.items, *second.items]]
    assert stamps == sorted(stamps, reverse=True)
    assert all(entry.account_id == person.account_id for entry in first.items)


async def test_history_pages_after_an_entry_even_among_entries_of_one_instant(
    ashop: AsyncShop, customers: Customers
) -> None:
    """Keyset pages: the same entries as by number, with ties on `created_at` split by id."""
    person = await customers.one(balance=1_000)
    instant = utcnow()
    for amount in range(1, 8):  # seven entries of one millisecond, two older, one newer
        await ashop.repositories.ledger.record(
            person.account_id, EntryKind.CREDIT, amount, ashop.settings.currency, instant
        )
    for minutes in (-2, -1, 1):
        await ashop.repositories.ledger.record(
            person.account_id,
            EntryKind.CREDIT,
            100 + minutes,
            ashop.settings.currency,
            instant + timedelta(minutes=minutes),
        )
    everything = await ashop.wallet.history(person.user, PageRequest(page_size=100))
    expected = [entry.id for entry in everything.items]
    assert len(expected) == 11
    assert everything.next_after is None

    for size in (1, 2, 3, 4):
        seen: list[ObjectId] = []
        page = await ashop.wallet.history(person.user, PageRequest(page_size=size))
        while True:
            seen += [entry.id for entry in page.items]
            if page.next_after is None:
                break
            assert page.next_after == str(page.items[-1].id)
            page = await ashop.wallet.history(
                person.user, PageRequest(page_size=size, after=page.next_after)
            )
        assert seen == expected, size
        assert page.total == 11


async def test_history_after_another_accounts_entry_is_not_found(
    ashop: AsyncShop, customers: Customers
) -> None:
    one, other = await customers.one(balance=10), await customers.one(balance=10)
    theirs = (await ashop.wallet.history(other.user, PageRequest())).items[0].id

    with pytest.raises(NotFound, match="after"):
        await ashop.wallet.history(one.user, PageRequest(after=theirs))


# --- transfers ----------------------------------------------------------------------------


async def test_a_transfer_moves_money_with_two_ledger_legs(
    ashop: AsyncShop, customers: Customers
) -> None:
    alice, bob = await customers.create(2)
    currency = ashop.settings.currency

    transfer, replay = await ashop.wallet.transfer(alice.user, transfer_to(bob, 1_234, currency))

    assert not replay
    assert (transfer.from_account_id, transfer.to_account_id) == (alice.account_id, bob.account_id)
    assert transfer.amount == 1_234
    assert await balance_of(ashop, alice.account_id) == OPENING_BALANCE - 1_234
    assert await balance_of(ashop, bob.account_id) == OPENING_BALANCE + 1_234
    legs = await ashop.repositories.ledger.find_many({"reference_id": transfer.id})
    assert sorted((leg.kind.value, leg.amount, leg.account_id) for leg in legs) == sorted(
        [("transfer_out", -1_234, alice.account_id), ("transfer_in", 1_234, bob.account_id)]
    )
    stored = await ashop.repositories.transfers.get(transfer.id)
    assert stored.idempotency_key is None
    await assert_books_balance(ashop)


async def test_the_whole_balance_can_be_sent_but_not_a_cent_more(
    ashop: AsyncShop, customers: Customers
) -> None:
    alice, bob = await customers.create(2, balance=500)
    currency = ashop.settings.currency

    with pytest.raises(InsufficientFunds) as refused:
        await ashop.wallet.transfer(alice.user, transfer_to(bob, 501, currency))
    assert refused.value.code == "insufficient_funds"
    await ashop.wallet.transfer(alice.user, transfer_to(bob, 500, currency))

    assert await balance_of(ashop, alice.account_id) == 0
    assert await balance_of(ashop, bob.account_id) == 1_000
    await assert_books_balance(ashop)


async def test_refused_transfers_move_nothing(ashop: AsyncShop, customers: Customers) -> None:
    alice, bob = await customers.create(2)
    currency = ashop.settings.currency
    wrong = "USD" if currency != "USD" else "EUR"
    # An account in another currency: the credit leg finds no account in ours.
    foreign = ObjectId()
    now = utcnow()
    await ashop.repositories.accounts.collection.insert_one(
        {
            "_id": foreign,
            "user_id": ObjectId(),
            "balance": 0,
            "currency": wrong,
            "created_at": now,
            "updated_at": now,
        }
    )
    before = await snapshot(ashop)

    with pytest.raises(ValidationFailed):
        await ashop.wallet.transfer(alice.user, transfer_to(alice, 100, currency))
    with pytest.raises(ValidationFailed):
        await ashop.wallet.transfer(alice.user, transfer_to(bob, 100, wrong))
    with pytest.raises(NotFound):  # the debit ran first: the abort must undo it
        await ashop.wallet.transfer(alice.user, transfer_to(ObjectId(), 100, currency))
    with pytest.raises(NotFound):
        await ashop.wallet.transfer(alice.user, transfer_to(foreign, 100, currency))
    with pytest.raises(InvalidId):
        await ashop.wallet.transfer(alice.user, transfer_to("not-an-id", 100, currency))
    with pytest.raises(InsufficientFunds):
        await ashop.wallet.transfer(
            alice.user, transfer_to(bob, OPENING_BALANCE + 1, currency), "key-1"
        )

    assert await snapshot(ashop) == before


@pytest.mark.parametrize("amount", [0, -1, -10_000, 1.5, "100"])
def test_transfer_amounts_must_be_positive_integers(amount: object) -> None:
    with pytest.raises(ValidationError):
        TransferRequest(to_account_id=str(ObjectId()), amount=amount, currency="EUR")


# --- idempotency --------------------------------------------------------------------------


async def test_the_same_key_sent_twice_concurrently_moves_money_once(
    ashop: AsyncShop, customers: Customers
) -> None:
    alice, bob = await customers.create(2)
    currency = ashop.settings.currency
    rounds = 5
    for n in range(rounds):
        request = transfer_to(bob, 100 + n, currency)
        results = await asyncio.gather(
            ashop.wallet.transfer(alice.user, request, f"key-{n}"),
            ashop.wallet.transfer(alice.user, request, f"key-{n}"),
        )
        (first, first_replay), (second, second_replay) = results
        assert first.id == second.id
        assert sorted([first_replay, second_replay]) == [False, True]
        assert await ashop.repositories.transfers.count({"idempotency_key": f"key-{n}"}) == 1
        assert await ashop.repositories.ledger.count({"reference_id": first.id}) == 2

    moved = sum(100 + n for n in range(rounds))
    assert await ashop.repositories.transfers.count() == rounds
    assert await balance_of(ashop, alice.account_id) == OPENING_BALANCE - moved
    assert await balance_of(ashop, bob.account_id) == OPENING_BALANCE + moved
    await assert_books_balance(ashop)


async def test_a_retried_request_is_answered_with_the_original_transfer(
    ashop: AsyncShop, customers: Customers
) -> None:
    alice, bob = await customers.create(2)
    currency = ashop.settings.currency
    request = transfer_to(bob, 700, currency)

    original, replay = await ashop.wallet.transfer(alice.user, request, "order-42")
    again, again_replay = await ashop.wallet.transfer(alice.user, request, "order-42")

    assert (replay, again_replay) == (False, True)
    assert again.id == original.id
    assert again.created_at == original.created_at
    assert await balance_of(ashop, alice.account_id) == OPENING_BALANCE - 700


async def test_a_key_reused_for_another_request_is_refused(
    ashop: AsyncShop, customers: Customers
) -> None:
    alice, bob, carol = await customers.create(3)
    currency = ashop.settings.currency
    await ashop.wallet.transfer(alice.user, transfer_to(bob, 700, currency), "k")
    before = await snapshot(ashop)

    with pytest.raises(IdempotencyKeyReused) as reused:
        await ashop.wallet.transfer(alice.user, transfer_to(bob, 701, currency), "k")
    assert reused.value.code == "idempotency_key_reused"
    with pytest.raises(IdempotencyKeyReused):
        await ashop.wallet.transfer(alice.user, transfer_to(carol, 700, currency), "k")
    concurrent = await asyncio.gather(
        ashop.wallet.transfer(alice.user, transfer_to(bob, 702, currency), "k"),
        ashop.wallet.transfer(alice.user, transfer_to(bob, 703, currency), "k"),
        return_exceptions=True,
    )
    assert [type(result) for result in concurrent] == [IdempotencyKeyReused] * 2

    assert await snapshot(ashop) == before


async def test_keys_belong_to_their_user(ashop: AsyncShop, customers: Customers) -> None:
    alice, bob = await customers.create(2)
    currency = ashop.settings.currency

    from_alice, _ = await ashop.wallet.transfer(alice.user, transfer_to(bob, 300, currency), "k")
    from_bob, replay = await ashop.wallet.transfer(bob.user, transfer_to(alice, 300, currency), "k")

    assert not replay
    assert from_bob.id != from_alice.id
    assert await ashop.repositories.transfers.count() == 2


async def test_a_retry_naming_the_account_in_upper_case_is_a_replay(
    ashop: AsyncShop, customers: Customers
) -> None:
    alice, bob = await customers.create(2)
    currency = ashop.settings.currency
    first, replay = await ashop.wallet.transfer(
        alice.user, transfer_to(str(bob.account_id).lower(), 500, currency), "retry-key"
    )
    assert not replay

    again, replay = await ashop.wallet.transfer(
        alice.user, transfer_to(str(bob.account_id).upper(), 500, currency), "retry-key"
    )

    assert replay
    assert again.id == first.id
    assert await balance_of(ashop, bob.account_id) == OPENING_BALANCE + 500
