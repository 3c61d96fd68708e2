"""Growth: product search and sales analytics as the collections grow (10k, 100k, [1M]).

The result size is held constant (20 products in the searched category, 200
orders in the analysed week) while the collections grow tenfold per step: with
index scans, the time follows the result, not the collection.

    python -m benchmarks.bench_growth [--sizes 10000 100000] [--rounds 5]
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from bson import ObjectId
from pymongo import MongoClient

from benchmarks.harness import Contender, console, embedded_server, measure, report, save
from mongoshop._async.services.catalog import new_product_document
from mongoshop._sync.shop import Shop
from mongoshop.clock import utcnow
from mongoshop.demo import demo_products
from mongoshop.iterables import batched
from mongoshop.models.common import Document, PageRequest
from mongoshop.models.orders import SalesPeriod
from mongoshop.models.products import ProductQuery
from mongoshop.settings import Settings

NEEDLES = 20
WEEK_ORDERS = 200


def fill(shop: Shop, products: int, orders: int, week: SalesPeriod) -> None:
    """Grow both collections to the given sizes, keeping `WEEK_ORDERS` orders in `week`."""
    now = utcnow()
    have = shop.product_repository.count()
    extra = demo_products(products - have, seed=have + 1, currency="EUR")
    for batch in batched(extra, 2000):
        shop.product_repository.collection.insert_many(
            [{"_id": ObjectId(), **new_product_document(product, now)} for _, product in batch]
        )
    needles = shop.product_repository.collection
    if needles.count_documents({"category": "needle"}) == 0:
        for _, product in demo_products(NEEDLES, seed=999, currency="EUR"):
            needles.insert_one(
                new_product_document(product.model_copy(update={"category": "needle"}), now)
            )
    product_ids = [d["_id"] for d in needles.find({"category": "needle"}, {"_id": 1})]
    collection = shop.order_repository.collection
    have_orders = collection.estimated_document_count()
    documents: list[Document] = []
    for index in range(have_orders, orders):
        in_week = index < WEEK_ORDERS
        when = (
            week.start + timedelta(minutes=index * 7) if in_week else now - timedelta(minutes=index)
        )
        documents.append(
            {
                "user_id": ObjectId(),
                "account_id": ObjectId(),
                "items": [
                    {
                        "product_id": product_ids[index % NEEDLES],
                        "name": "n",
                        "quantity": 1,
                        "unit_price": 500,
                    }
                ],
                "total": {"amount": 500, "currency": "EUR"},
                "status": "completed",
                "request_hash": "x",
                "created_at": when,
                "cancelled_at": None,
            }
        )
        if len(documents) == 2000:
            collection.insert_many(documents)
            documents = []
    if documents:
        collection.insert_many(documents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cases = []
    with embedded_server() as uri:
        client: MongoClient[Document] = MongoClient(uri, tz_aware=True)
        settings = Settings(mongodb_uri=uri, mongodb_database="bench_growth")  # type: ignore[call-arg]
        shop = Shop(client["bench_growth"], settings)
        shop.ensure_indexes()
        week_end = utcnow() - timedelta(days=400)
        week = SalesPeriod(start=week_end - timedelta(days=7), end=week_end)
        query = ProductQuery(category="needle", sort="price", order="asc")  # type: ignore[arg-type]
        for size in sorted(args.sizes):
            console.print(f"growing to {size} products and {size} orders...")
            fill(shop, size, size, week)

            def search() -> float:
                page = shop.catalog.search(query, PageRequest(page=1, page_size=NEEDLES))
                assert page.total == NEEDLES
                return 1

            def analytics() -> float:
                report_ = shop.analytics.sales(week)
                assert report_.summary.orders_count == WEEK_ORDERS
                return 1

            contenders: list[Any] = [
                Contender(f"search @ {size}", search),
                Contender(f"analytics @ {size}", analytics),
            ]
            measure(contenders, rounds=args.rounds)
            cases.append(
                report("growth", f"{size} documents", contenders, "calls", f"search @ {size}")
            )
        client.close()
    save("growth", cases)


if __name__ == "__main__":
    main()
