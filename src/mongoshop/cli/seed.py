"""`mongoshop seed`: deterministic demo data, in batches, with a progress bar per collection."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import typer
from bson import ObjectId
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from mongoshop._sync.shop import Shop
from mongoshop.cli.common import console, open_shop, settings_from_env
from mongoshop.clock import utcnow
from mongoshop.demo import (
    DEMO_PASSWORD,
    OPENING_BALANCE,
    demo_orders,
    demo_products,
    demo_user_fields,
)
from mongoshop.errors import Conflict
from mongoshop.iterables import batched
from mongoshop.models.orders import OrderItemRequest, OrderRequest

BATCH = 500
MAX_BUYERS = 200


@dataclass
class SeedReport:
    users: tuple[int, int] = (0, 0)
    accounts: int = 0
    products: tuple[int, int] = (0, 0)
    orders: tuple[int, int, int] = (0, 0, 0)
    """(placed, already placed, refused for stock or funds)."""

    def lines(self) -> Iterator[str]:
        yield f"users: {self.users[0]} inserted, {self.users[1]} already present"
        yield f"wallets: {self.accounts} opened with {OPENING_BALANCE / 100:.2f} each"
        yield f"products: {self.products[0]} inserted, {self.products[1]} already present"
        placed, replayed, refused = self.orders
        yield f"orders: {placed} placed, {replayed} already placed, {refused} refused (stock/funds)"
        yield f"every demo user's password: {DEMO_PASSWORD!r}"


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def seed_all(shop: Shop, *, users: int, products: int, orders: int, seed: int) -> SeedReport:
    """Insert demo users, their funded wallets, products and orders; idempotent per seed."""
    report = SeedReport()
    currency = shop.settings.currency
    with _progress() as progress:
        task = progress.add_task("users", total=users)
        report.users = shop.users.add_demo_users(
            demo_user_fields(users, seed),
            password=DEMO_PASSWORD,
            batch_size=BATCH,
            on_batch=lambda n: progress.advance(task, n),
        )
        task = progress.add_task("wallets", total=users)
        emails = (str(fields["email"]) for fields in demo_user_fields(users, seed))
        buyer_ids: list[ObjectId] = []
        for batch in batched(emails, BATCH):
            ids = shop.user_repository.ids_by_email(batch)
            ordered = [ids[email] for email in batch if email in ids]
            report.accounts += shop.wallet.open_funded_accounts(
                ordered, OPENING_BALANCE, "demo opening balance"
            )
            buyer_ids.extend(ordered[: MAX_BUYERS - len(buyer_ids)])
            progress.advance(task, len(batch))

        task = progress.add_task("products", total=products)
        report.products = shop.catalog.add_many(
            demo_products(products, seed, currency),
            batch_size=BATCH,
            on_batch=lambda n: progress.advance(task, n),
        )
        product_ids = [
            str(product_id) for product_id, _ in demo_products(min(products, 1000), seed, currency)
        ]

        task = progress.add_task("orders", total=orders)
        buyers = [shop.users.get(str(user_id)) for user_id in buyer_ids]
        placed = replayed = refused = 0
        for order in demo_orders(orders, seed, len(buyers), len(product_ids), utcnow()):
            request = OrderRequest(
                items=[
                    OrderItemRequest(product_id=product_ids[index], quantity=quantity)
                    for index, quantity in order.items
                ]
            )
            try:
                _, was_replay = shop.orders.place(
                    buyers[order.buyer_index], request, order.key, placed_at=order.placed_at
                )
            except Conflict:
                refused += 1
            else:
                replayed += was_replay
                placed += not was_replay
            progress.advance(task)
        report.orders = (placed, replayed, refused)
    return report


def seed(
    users: Annotated[int, typer.Option(min=0, max=1_000_000, help="How many users")] = 100,
    products: Annotated[int, typer.Option(min=0, max=10_000_000, help="How many products")] = 60,
    orders: Annotated[int, typer.Option(min=0, max=1_000_000, help="How many orders")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data")] = 1,
) -> None:
    """Add deterministic demo data: users with funded wallets, products, and orders
    spread over the last six months. Safe to run twice: nothing is duplicated.

    Examples:
      mongoshop seed
      mongoshop seed --users 1000 --products 500 --orders 2000 --seed 7
    """
    with open_shop(settings_from_env()) as shop:
        report = seed_all(shop, users=users, products=products, orders=orders, seed=seed)
    for line in report.lines():
        console.print(line)
