"""Write path: users seeded and products imported, against raw ``insert_many`` of the same dicts.

Also the import's peak memory for 10k and 100k lines, to show it follows the
batch size, not the file.

    python -m benchmarks.bench_write [--users 10000] [--products 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from benchmarks.harness import Contender, console, embedded_server, measure, report, save
from mongoshop._async.repositories.products import product_document
from mongoshop._async.repositories.users import user_document
from mongoshop._sync.shop import Shop
from mongoshop.clock import utcnow
from mongoshop.demo import DEMO_PASSWORD, demo_products, demo_user_fields
from mongoshop.importing import import_stream
from mongoshop.iterables import batched
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings

BATCH = 1000


def product_lines(count: int) -> list[str]:
    return [
        json.dumps(product.model_dump())
        for _, product in demo_products(count, seed=5, currency="EUR")
    ]


def peak_import_memory(uri: str, lines: list[str], directory: Path) -> int:
    """Peak RSS (KiB) of a `mongoshop import products` process importing `lines`."""
    source = directory / f"products-{len(lines)}.jsonl"
    source.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "MONGODB_URI": uri, "MONGODB_DATABASE": f"bench_mem_{len(lines)}"}
    # A fresh wrapper process per measurement: RUSAGE_CHILDREN then covers this import only.
    wrapper = (
        "import resource, subprocess, sys; "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    command = [str(Path(sys.executable).with_name("mongoshop")), "import", "products", str(source)]
    result = subprocess.run(
        [sys.executable, "-c", wrapper, *command],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return int(result.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000, help="0 skips the users case")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the import peak-memory measurement"
    )
    args = parser.parse_args()
    cases = []
    with embedded_server() as uri:
        client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
        settings = Settings(mongodb_uri=uri, mongodb_database="bench_write")  # type: ignore[call-arg]
        shop = Shop(client["bench_write"], settings)
        shop.ensure_indexes()
        users = shop.repositories.users.collection
        products = shop.repositories.products.collection
        password_hash = PasswordHasher().hash(DEMO_PASSWORD)
        fields = list(demo_user_fields(args.users, seed=9))

        def empty_users() -> None:
            users.drop()
            shop.repositories.users.ensure_indexes()

        def raw_users() -> float:
            documents = [user_document(password_hash=password_hash, **f) for f in fields]  # type: ignore[arg-type]
            for batch in batched(documents, 500):
                users.insert_many(list(batch), ordered=False)
            return len(documents)

        def seed_users() -> float:
            inserted, _ = shop.users.add_demo_users(fields, password=DEMO_PASSWORD)
            return inserted

        if args.users:
            contenders = [
                Contender("raw insert_many", raw_users, setup=empty_users),
                Contender("mongoshop seed", seed_users, setup=empty_users),
            ]
            measure(contenders, rounds=args.rounds, warmup=args.warmup)
            cases.append(
                report("write", f"{args.users} users", contenders, "docs", "raw insert_many")
            )

        lines = product_lines(args.products)
        now = utcnow()
        from mongoshop.models.products import ProductCreate

        documents = [
            product_document(ProductCreate.model_validate_json(line), now) for line in lines
        ]

        def empty_products() -> None:
            products.drop()
            shop.repositories.products.ensure_indexes()

        def raw_products() -> float:
            for batch in batched(documents, BATCH):
                products.insert_many([dict(document) for document in batch], ordered=False)
            return len(documents)

        def import_products() -> float:
            summary = import_stream(
                shop.catalog,
                io.StringIO("\n".join(lines)),
                "jsonl",
                batch_size=BATCH,
                upsert_on=None,
                on_rejected=lambda line, reason, raw: None,
            )
            return summary.inserted

        contenders = [
            Contender("raw insert_many", raw_products, setup=empty_products),
            Contender("mongoshop import", import_products, setup=empty_products),
        ]
        measure(contenders, rounds=args.rounds, warmup=args.warmup)
        cases.append(
            report("write", f"{args.products} products", contenders, "docs", "raw insert_many")
        )

        if not args.no_memory:
            with tempfile.TemporaryDirectory() as directory:
                memory = {}
                for size in (args.products // 10, args.products):
                    memory[size] = peak_import_memory(uri, lines[:size], Path(directory))
                    console.print(f"import of {size} lines: peak RSS {memory[size] / 1024:.0f} MiB")
                cases.append(
                    {"benchmark": "write", "case": "import peak memory (KiB)", "rows": memory}
                )
        client.close()
    save("write", cases)


if __name__ == "__main__":
    main()
