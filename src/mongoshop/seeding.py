"""Deterministic demo data through the services: users with funded wallets, products,
orders spread over the last six months. The same seed gives the same data, and
seeding twice inserts nothing the second time (stable ids and idempotency keys).

Used by ``mongoshop seed`` and by ``mongoshop serve`` (the demo shop); the command
line only draws the progress (`Progress`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from bson import ObjectId

from mongoshop._sync.shop import Shop
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


class Progress(Protocol):
    """Where the seeding reports how far it got (a progress bar per collection, in the CLI)."""

    def start(self, stage: str, total: int) -> Callable[[int], None]:
        """A new stage of `total` items; returns what to call with each batch's size."""
        ...


class NoProgress:
    def start(self, stage: str, total: int) -> Callable[[int], None]:
        return lambda done: None


def seed_all(
    shop: Shop,
    *,
    users: int,
    products: int,
    orders: int,
    seed: int,
    welcome: bool = False,
    progress: Progress | None = None,
) -> SeedReport:
    """Insert demo users, their funded wallets, products and orders; idempotent per seed.
    The users are welcomed by e-mail only when `welcome` (demo accounts nobody asked for:
    by default they make no mail)."""
    report = SeedReport()
    currency = shop.settings.currency
    progress = progress or NoProgress()
    advance = progress.start("users", users)
    report.users = shop.users.add_demo_users(
        demo_user_fields(users, seed),
        password=DEMO_PASSWORD,
        welcome=welcome,
        batch_size=BATCH,
        on_batch=advance,
    )
    advance = progress.start("wallets", users)
    emails = (str(fields["email"]) for fields in demo_user_fields(users, seed))
    buyer_ids: list[ObjectId] = []
    for batch in batched(emails, BATCH):
        ids = shop.repositories.users.ids_by_email(batch)
        ordered = [ids[email] for email in batch if email in ids]
        report.accounts += shop.wallet.open_funded_accounts(
            ordered, OPENING_BALANCE, "demo opening balance"
        )
        buyer_ids.extend(ordered[: MAX_BUYERS - len(buyer_ids)])
        advance(len(batch))

    advance = progress.start("products", products)
    report.products = shop.catalog.add_many(
        demo_products(products, seed, currency),
        batch_size=BATCH,
        on_batch=advance,
    )
    product_ids = [
        str(product_id) for product_id, _ in demo_products(min(products, 1000), seed, currency)
    ]

    advance = progress.start("orders", orders)
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
        advance(1)
    report.orders = (placed, replayed, refused)
    return report
