"""Seeding orders into a large shop: `mongoshop seed` timed after 100,000 products.

    python -m benchmarks.bench_seed [--products 100000]

The indexes are created first (`mongoshop db init`), the products inserted raw,
then `mongoshop seed --users 200 --products 200 --orders 300` runs as a user would
run it, against the same embedded server. Before issue 10's changes, the same
command into 55,000 products was still running after 5 minutes: each order's
stock decrement was a findAndModify, a pass over the whole products collection.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from bson import ObjectId
from pymongo import MongoClient

from benchmarks.harness import console, embedded_server
from mongoshop._async.repositories.products import product_document
from mongoshop.clock import utcnow
from mongoshop.models.common import Document
from mongoshop.models.money import Money
from mongoshop.models.products import Inventory, ProductCreate

DATABASE = "bench_seed"
MONGOSHOP = str(Path(sys.executable).with_name("mongoshop"))


def command(uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGOSHOP_", "MONGODB_"))}
    env.update({"MONGODB_URI": uri, "MONGODB_DATABASE": DATABASE})
    done = subprocess.run([MONGOSHOP, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"mongoshop {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    args = parser.parse_args()
    with embedded_server() as uri:
        command(uri, "db", "init")
        client: MongoClient[Document] = MongoClient(uri, tz_aware=True)
        now = utcnow()
        started = time.perf_counter()
        for first in range(0, args.products, 2000):
            client[DATABASE].products.insert_many(
                [
                    {
                        "_id": ObjectId(),
                        **product_document(
                            ProductCreate(
                                name=f"Filler {n}",
                                category=f"c{n % 10}",
                                price=Money(amount=100 + n % 900, currency="EUR"),
                                inventory=Inventory(quantity=50),
                            ),
                            now,
                        ),
                    }
                    for n in range(first, min(args.products, first + 2000))
                ]
            )
        client.close()
        console.print(f"{args.products} products in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        seeded = command(uri, "seed", "--users", "200", "--products", "200", "--orders", "300")
        elapsed = time.perf_counter() - started
        console.print(seeded.stdout.strip().splitlines()[-2])
        console.print(
            f"seed --users 200 --products 200 --orders 300 into {args.products} products: "
            f"{elapsed:.1f} s"
        )


if __name__ == "__main__":
    main()
