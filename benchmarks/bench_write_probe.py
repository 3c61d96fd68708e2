"""The write watch's probe at 1,000 and 100,000 documents, against raw PyMongo.

The probe (`AsyncRepository.probe_write`) is an update by an ``_id`` no
document has: it must cost the same whatever the collection holds, or the watch
would load a large shop for nothing. Contenders, in the same run on the same
server, alternating round by round: the probe of `products` on a shop of each
size, and raw PyMongo's ``find_one`` by ``_id`` (the one O(1) access there).

    python -m benchmarks.bench_write_probe [--sizes 1000 100000] [--calls 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial
from typing import Any

from benchmarks.filler import fill
from benchmarks.harness import console, embedded_server, save
from mongoshop._sync.shop import Shop
from mongoshop.db import create_sync_client
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings


def median_ms(call: Any, calls: int) -> float:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def probe_all(shop: Shop) -> None:
    for repository in shop.repositories.all():
        repository.probe_write()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1_000, 100_000])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    password_hash = PasswordHasher().hash("bench-password")
    with embedded_server() as uri:
        settings = Settings(mongodb_uri=uri)
        client = create_sync_client(uri, settings)
        shops = {}
        for size in args.sizes:
            shop = Shop(client[f"probe_{size}"], settings)
            shop.ensure_indexes()
            fill(shop.database, 0, size, password_hash, settings.currency)
            shops[size] = shop
        known = {
            size: shop.database.products.find_one({}, {"_id": 1})["_id"]
            for size, shop in shops.items()
        }
        results: dict[str, dict[int, list[float]]] = {
            "probe": {},
            "raw find_one": {},
            "probe, every collection": {},
        }
        for _ in range(args.rounds):
            for size, shop in shops.items():
                products = shop.repositories.products
                timed = {
                    "probe": (products.probe_write, args.calls),
                    "raw find_one": (
                        partial(products.collection.find_one, {"_id": known[size]}),
                        args.calls,
                    ),
                    "probe, every collection": (
                        partial(probe_all, shop),
                        max(10, args.calls // 10),
                    ),
                }
                for name, (call, calls) in timed.items():
                    results[name].setdefault(size, []).append(median_ms(call, calls))
        client.close()
    small, large = args.sizes
    rows = []
    for name, by_size in results.items():
        low, high = statistics.median(by_size[small]), statistics.median(by_size[large])
        rows.append({"operation": name, "small_ms": low, "large_ms": high, "ratio": high / low})
        console.print(
            f"{name:28s} {low:7.2f} ms at {small:,}  {high:7.2f} ms at {large:,}  x{high / low:.2f}"
        )
    save("write_probe", rows)


if __name__ == "__main__":
    main()
