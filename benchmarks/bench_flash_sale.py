"""A flash sale against `mongoshop serve` (API and worker), then a catalog import.

The scenario of issue 19, as a new user would run it, on the embedded server
started durable (``--sync-on-commit``, as `serve` starts it):

1. transfers: 240 from 8 clients at once among 6 funded customers (contended),
   against the same from 8 clients each paying between two accounts of its own
   (uncontended): answers by status, p50 / p99 / slowest, and the contended
   rate as a ratio of the uncontended one;
2. orders: 200 of one product (stock 1,000) from 20 clients at once, each with
   its own Idempotency-Key, against 20 clients each buying a product of its own;
3. a pause (`--pause`, 60 s), then `mongoshop import products` of `--import`
   products (30,000) while another product's stock is changed every second:
   whether the import completes, how long it takes, and the slowest of those
   writes.

    python -m benchmarks.bench_flash_sale [--pause 60] [--import 30000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient
from tests.e2e.support import free_port

from benchmarks.harness import console, save

ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench-admin-password"
DEMO_PASSWORD = "demo-password"
HOT_STOCK = 1_000


def command(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


class Shop:
    """`mongoshop serve` on a data directory of its own, and what the scenario needs of it."""

    def __init__(self, directory: Path) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MONGOSHOP_", "MONGODB_"))},
            "MONGOSHOP_DATA_DIR": str(directory),
            "MONGOSHOP_ADMIN_EMAIL": ADMIN_EMAIL,
            "MONGOSHOP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MONGOSHOP_LOG_LEVEL": "WARNING",
            "MONGOSHOP_LOGIN_MAX_FAILURES_PER_CLIENT": "10000",
        }
        self.directory = directory
        subprocess.run(
            [command("mongoshop"), "seed", "--users", "40", "--products", "0", "--orders", "0"],
            env=self.env,
            check=True,
            capture_output=True,
        )
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log = (directory / "serve.log").open("w")
        self.process = subprocess.Popen(
            [command("mongoshop"), "serve", "--port", str(port), "--no-demo", "--no-access-log"],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        state = json.loads((directory / "embedded.json").read_text())
        self.uri = f"mongodb://127.0.0.1:{state['port']}/?directConnection=true"
        self.http = httpx.Client(base_url=self.base, timeout=120)
        self.admin = self.login(ADMIN_EMAIL, ADMIN_PASSWORD)

    def login(self, email: str, password: str) -> dict[str, str]:
        response = self.http.post("/auth/login", json={"email": email, "password": password})
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def customers(self, count: int) -> list[tuple[dict[str, str], str]]:
        """`count` seeded customers, signed in, each with a funded wallet: (headers, account)."""
        with MongoClient(self.uri) as mongo:
            emails = [
                user["email"]
                for user in mongo.mongoshop.users.find({"roles": {"$ne": "admin"}}).limit(count)
            ]
        people = []
        for email in emails:
            headers = self.login(email, DEMO_PASSWORD)
            account = self.http.get("/accounts/me", headers=headers).json()["id"]
            self.http.post(
                f"/accounts/{account}/credit",
                headers=self.admin,
                json={"amount": 100_000_000, "currency": "EUR", "reason": "bench"},
            ).raise_for_status()
            people.append((headers, account))
        return people

    def product(self, stock: int) -> str:
        response = self.http.post(
            "/products",
            headers=self.admin,
            json={
                "name": f"Bench item {uuid.uuid4().hex[:8]}",
                "category": "bench",
                "price": {"amount": 100, "currency": "EUR"},
                "inventory": {"quantity": stock},
            },
        )
        response.raise_for_status()
        return str(response.json()["id"])

    def close(self) -> None:
        self.http.close()
        self.process.terminate()
        self.process.wait(60)
        self.log.close()


def commands(shop: Shop) -> dict[str, float]:
    """The database commands `serve` (API and worker) has sent so far, by name."""
    text = shop.http.get("/metrics").text
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("mongoshop_db_command_duration_seconds_count{"):
            name = line.split('command="', 1)[1].split('"', 1)[0]
            counts[name] = float(line.rsplit(" ", 1)[1])
    return counts


def burst(
    shop: Shop, calls: int, clients: int, call: Callable[[httpx.Client, int], httpx.Response]
) -> dict[str, Any]:
    """`calls` requests from `clients` at once; statuses, latencies, rate."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    local = threading.local()

    def one(n: int) -> None:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=shop.base, timeout=120)
        started = time.perf_counter()
        response = call(local.http, n)
        took = time.perf_counter() - started
        with lock:
            statuses[response.status_code] += 1
            latencies.append(took)

    before = commands(shop)
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(calls)))
    seconds = time.perf_counter() - started
    time.sleep(2)  # the worker's share of the burst (the e-mails, the cache events)
    after = commands(shop)
    return {
        "statuses": dict(statuses),
        "commands per call": {
            name: round((after[name] - before.get(name, 0)) / calls, 2)
            for name in sorted(after)
            if after[name] - before.get(name, 0) >= calls / 10
        },
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 0.99),
        "slowest": max(latencies),
        "rate": calls / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pause", type=float, default=60.0)
    parser.add_argument("--import", dest="imported", type=int, default=30_000)
    args = parser.parse_args()
    rng = random.Random(20261202)
    with tempfile.TemporaryDirectory(prefix="mongoshop-flash-") as directory:
        shop = Shop(Path(directory))
        try:
            results = scenario(shop, rng, args.pause, args.imported)
        finally:
            shop.close()
    save("flash_sale", [{"case": name, **row} for name, row in results.items()])
    report(results)


def scenario(shop: Shop, rng: random.Random, pause: float, imported: int) -> dict[str, Any]:
    people = shop.customers(40)
    hot = shop.product(HOT_STOCK)
    own = [shop.product(HOT_STOCK) for _ in range(20)]
    results: dict[str, Any] = {}

    def transfer(source: int, target: int) -> Callable[[httpx.Client, int], httpx.Response]:
        return lambda http, n: http.post(
            "/transfers",
            headers={**people[source][0], "Idempotency-Key": uuid.uuid4().hex},
            json={"to_account_id": people[target][1], "amount": 1, "currency": "EUR"},
        )

    pairs = [rng.sample(range(6), 2) for _ in range(240)]
    results["transfers, 8 clients over 6 accounts"] = burst(
        shop, 240, 8, lambda http, n: transfer(*pairs[n])(http, n)
    )
    # Uncontended: client k pays between accounts 6 + 2k and 7 + 2k only (n % 8 is the
    # client's share of the calls, not a thread: pairs never meet another client's).
    results["transfers, 8 clients, each between its own two accounts"] = burst(
        shop, 240, 8, lambda http, n: transfer(6 + 2 * (n % 8), 7 + 2 * (n % 8))(http, n)
    )

    def order(product: str, buyer: int) -> Callable[[httpx.Client, int], httpx.Response]:
        return lambda http, n: http.post(
            "/orders",
            headers={**people[buyer][0], "Idempotency-Key": uuid.uuid4().hex},
            json={"items": [{"product_id": product, "quantity": 1}]},
        )

    results["orders, 20 clients on one product"] = burst(
        shop, 200, 20, lambda http, n: order(hot, n % 20)(http, n)
    )
    results["orders, 20 clients, each on a product of its own"] = burst(
        shop, 200, 20, lambda http, n: order(own[n % 20], 20 + n % 20)(http, n)
    )
    for contended, alone in (
        (
            "transfers, 8 clients over 6 accounts",
            "transfers, 8 clients, each between its own two accounts",
        ),
        ("orders, 20 clients on one product", "orders, 20 clients, each on a product of its own"),
    ):
        results[contended]["ratio"] = results[contended]["rate"] / results[alone]["rate"]

    time.sleep(pause)
    catalog = Path(shop.directory) / "catalog.jsonl"
    with catalog.open("w") as out:
        for n in range(imported):
            out.write(
                json.dumps(
                    {
                        "name": f"Imported {n}",
                        "category": rng.choice(["books", "toys", "garden"]),
                        "price": {"amount": 100 + n % 900, "currency": "EUR"},
                        "tags": ["imported"],
                        "inventory": {"quantity": 5},
                    }
                )
                + "\n"
            )
    writes: list[float] = []
    statuses: Counter[int] = Counter()
    stop = threading.Event()

    def restock() -> None:
        with httpx.Client(base_url=shop.base, timeout=120) as http:
            while not stop.wait(1.0):
                started = time.perf_counter()
                response = http.post(
                    f"/products/{own[0]}/inventory", headers=shop.admin, json={"change": 1}
                )
                writes.append(time.perf_counter() - started)
                statuses[response.status_code] += 1

    writer = threading.Thread(target=restock)
    writer.start()
    started = time.perf_counter()
    done = subprocess.run(
        [command("mongoshop"), "import", "products", str(catalog)],
        env=shop.env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    stop.set()
    writer.join()
    results["import after the sale"] = {
        "products": imported,
        "completed": done.returncode == 0,
        "seconds": seconds,
        "other product's stock changes": dict(statuses),
        "slowest stock change": max(writes) if writes else 0.0,
    }
    return results


def report(results: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="Contention (mongoshop serve, API and worker, embedded server)")
    for column in ("burst", "answers", "p50 (s)", "p99 (s)", "slowest (s)", "per s", "ratio"):
        table.add_column(column)
    for name, row in results.items():
        if "statuses" not in row:
            continue
        table.add_row(
            name,
            ", ".join(f"{code}: {count}" for code, count in sorted(row["statuses"].items())),
            f"{row['p50']:.2f}",
            f"{row['p99']:.2f}",
            f"{row['slowest']:.2f}",
            f"{row['rate']:.1f}",
            f"{row['ratio']:.2f}" if "ratio" in row else "-",
        )
    console.print(table)
    for name, row in results.items():
        if "commands per call" in row:
            console.print(f"{name}: database commands per call {row['commands per call']}")
    console.print(results["import after the sale"])


if __name__ == "__main__":
    main()
