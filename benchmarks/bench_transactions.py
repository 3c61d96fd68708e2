"""Transfers per second under contention (8 workers, 20 accounts) and orders per second.

Contenders: mongoshop's wallet and order services (async face, each operation
one multi-document transaction with retries), against a raw PyMongo
transaction doing the same writes (debit with guard, credit, two ledger legs
and the transfer document) at the same concurrency.

    python -m benchmarks.bench_transactions [--operations 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient

from benchmarks.harness import Contender, embedded_server, measure, report, save
from mongoshop._async.shop import AsyncShop
from mongoshop.clock import utcnow
from mongoshop.demo import demo_user_fields
from mongoshop.models.common import Document
from mongoshop.models.money import Money
from mongoshop.models.orders import OrderItemRequest, OrderRequest
from mongoshop.models.products import Inventory, ProductCreate
from mongoshop.models.wallet import TransferRequest
from mongoshop.settings import Settings

WORKERS = 8
ACCOUNTS = 20


async def prepare(shop: AsyncShop) -> tuple[list[Any], list[Any], list[str]]:
    await shop.ensure_indexes()
    await shop.users.add_demo_users(demo_user_fields(ACCOUNTS, seed=1), password="bench-password")
    users = await shop.repositories.users.find_many({}, limit=ACCOUNTS)
    await shop.wallet.open_funded_accounts([user.id for user in users], 10**9, "bench")
    accounts = [await shop.wallet.account_of(user) for user in users]
    products = [
        await shop.catalog.create(
            ProductCreate(
                name=f"Bench {index}",
                category="bench",
                price=Money(amount=100, currency="EUR"),
                inventory=Inventory(quantity=10**6),
            )
        )
        for index in range(10)
    ]
    return users, accounts, [str(product.id) for product in products]


async def raw_transfer(
    client: AsyncMongoClient[Document],
    database: str,
    source: ObjectId,
    target: ObjectId,
    amount: int,
) -> None:
    db = client[database]

    async def body(session: Any) -> None:
        now = utcnow()
        debited = await db.accounts.update_one(
            {"_id": source, "balance": {"$gte": amount}},
            {"$inc": {"balance": -amount}, "$set": {"updated_at": now}},
            session=session,
        )
        if debited.matched_count != 1:
            raise RuntimeError("insufficient funds")
        await db.accounts.update_one(
            {"_id": target},
            {"$inc": {"balance": amount}, "$set": {"updated_at": now}},
            session=session,
        )
        transfer = await db.transfers.insert_one(
            {
                "from_account_id": source,
                "to_account_id": target,
                "amount": amount,
                "created_at": now,
            },
            session=session,
        )
        await db.ledger.insert_many(
            [
                {
                    "account_id": source,
                    "amount": -amount,
                    "reference_id": transfer.inserted_id,
                    "created_at": now,
                },
                {
                    "account_id": target,
                    "amount": amount,
                    "reference_id": transfer.inserted_id,
                    "created_at": now,
                },
            ],
            session=session,
        )

    async with client.start_session() as session:
        await session.with_transaction(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cases = []
    with embedded_server() as uri:
        loop = asyncio.new_event_loop()
        client: AsyncMongoClient[Document] = AsyncMongoClient(uri, tz_aware=True)
        settings = Settings(mongodb_uri=uri, mongodb_database="bench_tx")  # type: ignore[call-arg]
        shop = AsyncShop(client["bench_tx"], settings)
        users, accounts, product_ids = loop.run_until_complete(prepare(shop))
        rng = random.Random(7)

        def pairs() -> list[tuple[int, int]]:
            chosen = []
            for _ in range(args.operations):
                source, target = rng.sample(range(ACCOUNTS), 2)
                chosen.append((source, target))
            return chosen

        async def in_workers(job: Any, items: list[Any]) -> None:
            queue = list(items)

            async def worker() -> None:
                while queue:
                    await job(queue.pop())

            await asyncio.gather(*(worker() for _ in range(WORKERS)))

        def mongoshop_transfers() -> float:
            async def one(pair: tuple[int, int]) -> None:
                source, target = pair
                await shop.wallet.transfer(
                    users[source],
                    TransferRequest(
                        to_account_id=str(accounts[target].id), amount=1, currency="EUR"
                    ),
                )

            loop.run_until_complete(in_workers(one, pairs()))
            return args.operations

        def raw_transfers() -> float:
            async def one(pair: tuple[int, int]) -> None:
                source, target = pair
                await raw_transfer(client, "bench_tx", accounts[source].id, accounts[target].id, 1)

            loop.run_until_complete(in_workers(one, pairs()))
            return args.operations

        contenders = [
            Contender("raw pymongo transaction", raw_transfers),
            Contender("mongoshop transfer", mongoshop_transfers),
        ]
        measure(contenders, rounds=args.rounds)
        cases.append(
            report(
                "transactions",
                f"transfers, {WORKERS} workers, {ACCOUNTS} accounts",
                contenders,
                "ops",
                "raw pymongo transaction",
            )
        )

        def orders() -> float:
            async def one(index: int) -> None:
                request = OrderRequest(
                    items=[
                        OrderItemRequest(
                            product_id=product_ids[index % len(product_ids)], quantity=1
                        )
                    ]
                )
                await shop.orders.place(users[index % ACCOUNTS], request)

            loop.run_until_complete(in_workers(one, list(range(args.operations))))
            return args.operations

        contenders = [Contender("mongoshop order", orders)]
        measure(contenders, rounds=args.rounds)
        cases.append(
            report(
                "transactions", f"orders, {WORKERS} workers", contenders, "ops", "mongoshop order"
            )
        )
        loop.run_until_complete(client.close())
        loop.close()
    save("transactions", cases)


if __name__ == "__main__":
    main()
