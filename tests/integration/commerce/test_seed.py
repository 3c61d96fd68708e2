"""The seed command's path, on the sync face: idempotent, and the books balance."""

from __future__ import annotations

from datetime import timedelta

from mongoshop._sync.shop import Shop
from mongoshop.clock import utcnow
from mongoshop.demo import OPENING_BALANCE
from mongoshop.models.orders import SalesPeriod
from mongoshop.seeding import seed_all

COLLECTIONS = ("users", "accounts", "products", "orders", "ledger")


def counts(shop: Shop) -> dict[str, int]:
    return {name: shop.database[name].count_documents({}) for name in COLLECTIONS}


def test_seeding_twice_adds_nothing_and_the_books_balance(shop: Shop) -> None:
    first = seed_all(shop, users=30, products=20, orders=60, seed=5)
    after_first = counts(shop)

    second = seed_all(shop, users=30, products=20, orders=60, seed=5)

    assert counts(shop) == after_first
    placed, replayed, refused = first.orders
    assert first.users == (30, 0)
    assert first.accounts == 30
    assert first.products == (20, 0)
    assert placed > 0
    assert placed + replayed + refused == 60
    assert after_first["orders"] == placed
    assert second.users == (0, 30)
    assert second.accounts == 0
    assert second.products == (0, 20)
    assert second.orders == (0, placed + replayed, refused)
    assert after_first["users"] == after_first["accounts"] == 30
    assert after_first["products"] == 20

    for account in shop.database["accounts"].find({}):
        assert account["balance"] >= 0
        assert account["balance"] == shop.repositories.ledger.sum_for(account["_id"])
        opening = shop.database["ledger"].count_documents(
            {"account_id": account["_id"], "kind": "credit", "amount": OPENING_BALANCE}
        )
        assert opening == 1
    for product in shop.database["products"].find({}):
        assert product["inventory"]["quantity"] >= 0

    # The orders are spread over months, and the sales analytics see every one of them.
    orders = list(shop.database["orders"].find({}))
    stamps = sorted(order["created_at"] for order in orders)
    assert stamps[-1] - stamps[0] > timedelta(days=60)
    report = shop.analytics.sales(SalesPeriod(start=stamps[0], end=utcnow() + timedelta(seconds=1)))
    assert report.summary.orders_count == len(orders)
    assert report.summary.total_sales == sum(order["total"]["amount"] for order in orders)
    assert shop.analytics.product_dashboard().totals.count == 20
