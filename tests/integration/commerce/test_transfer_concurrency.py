"""Many concurrent transfers: money is neither created nor lost, and never overdrawn."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict

import pytest
from bson import ObjectId

from mongoshop._async.shop import AsyncShop
from mongoshop.errors import InsufficientFunds
from mongoshop.models.wallet import TransferRequest
from tests.integration.helpers import (
    OPENING_BALANCE,
    OPENING_REASON,
    Customer,
    Customers,
    ledger_of,
)

ACCOUNTS = 20
WORKERS = 8
TRANSFERS = 500
SEED = 20_240_501

pytestmark = pytest.mark.slow


async def test_concurrent_random_transfers_keep_the_books(
    ashop: AsyncShop, customers: Customers
) -> None:
    people = await customers.create(ACCOUNTS)
    currency = ashop.settings.currency
    rng = random.Random(SEED)
    # Each worker is the only one spending from its own accounts (account i belongs to
    # worker i % WORKERS) but pays into any account, so every account sees concurrent
    # credits and debits. Amounts up to the opening balance: as balances drift, some
    # exceed what the account holds and are refused.
    plans: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for _ in range(TRANSFERS):
        source = rng.randrange(ACCOUNTS)
        target = rng.choice([n for n in range(ACCOUNTS) if n != source])
        amount = rng.randint(1, OPENING_BALANCE)
        plans[source % WORKERS].append((source, target, amount))
    assert len(plans) == WORKERS

    done: list[tuple[int, int, int, ObjectId]] = []
    refused = Counter[int]()

    async def worker(transfers: list[tuple[int, int, int]]) -> None:
        for source, target, amount in transfers:
            request = TransferRequest(
                to_account_id=str(people[target].account_id), amount=amount, currency=currency
            )
            try:
                transfer, replay = await ashop.wallet.transfer(people[source].user, request)
            except InsufficientFunds:
                refused[source] += 1
            else:
                assert not replay
                done.append((source, target, amount, transfer.id))

    await asyncio.gather(*(worker(plans[w]) for w in range(WORKERS)))

    assert len(done) + sum(refused.values()) == TRANSFERS
    assert done, "no transfer succeeded: the test proves nothing"
    assert refused, "no transfer was refused: amounts never exceeded a balance"

    expected = {n: OPENING_BALANCE for n in range(ACCOUNTS)}
    for source, target, amount, _ in done:
        expected[source] -= amount
        expected[target] += amount

    balances = {}
    for n, person in enumerate(people):
        account = await ashop.repositories.accounts.get(person.account_id)
        balances[n] = account.balance
        assert account.balance >= 0
    assert sum(balances.values()) == ACCOUNTS * OPENING_BALANCE
    assert balances == expected

    for n, person in enumerate(people):
        await _check_ledger(ashop, person, balances[n])

    assert await ashop.repositories.transfers.count() == len(done)
    legs = await ashop.repositories.ledger.count({"reference_id": {"$ne": None}})
    assert legs == 2 * len(done)
    for _, _, amount, transfer_id in done[:: max(1, len(done) // 50)]:
        entries = await ashop.repositories.ledger.find_many({"reference_id": transfer_id})
        assert sorted(entry.amount for entry in entries) == [-amount, amount]


async def _check_ledger(ashop: AsyncShop, person: Customer, balance: int) -> None:
    entries = await ledger_of(ashop, person.account_id)
    opening, *moves = entries
    assert opening["kind"] == "credit"
    assert opening["amount"] == person.opening
    assert opening["reason"] == OPENING_REASON
    assert balance == person.opening + sum(entry["amount"] for entry in moves)
    assert balance == await ashop.repositories.ledger.sum_for(person.account_id)
    # Writes to one account are serialized by write conflicts on its document, and each
    # entry's ObjectId is made after its transaction's write to the account succeeded:
    # in ObjectId order, the running balance is the balance the account really had.
    running = 0
    for entry in entries:
        running += entry["amount"]
        assert running >= 0, f"account {person.account_id} overdrawn in its ledger: {entries}"
