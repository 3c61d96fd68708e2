"""The sales report from its days' figures, at two sizes, against raw PyMongo.

    python -m benchmarks.bench_sales --size 1000
    python -m benchmarks.bench_sales --size 100000 --data /tmp/shop-100k

The shop is the load benchmark's (`benchmarks/load/run.py`, the same filler and
plan: each filler user has an order, one every 30 minutes back from when the shop
was filled, so a week holds the same 336 filler orders at either size); `--data`
reuses one filled before (with the orders of the runs since). `mongoshop serve`
runs with its worker, as users run it, and a customer places orders all along the
measured reads (the burst). For the dashboard's
periods (the last 7 and 30 UTC days, as its form asks), it times over HTTP:

- the first report (its days computed from the orders and kept),
- the reports after it (the days read from `figures`),
- a fresh report (``Cache-Control: no-cache``: the period computed now),

and, on the same server in the same run, raw PyMongo: the days' figures read by
`_id` (what a report now costs at the database) and the period's aggregation
(what every report cost before).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

from benchmarks.bench_growth import serving
from benchmarks.harness import RESULTS, console, save
from benchmarks.load.run import ADMIN_EMAIL, ADMIN_PASSWORD, DATABASE, filled_shop, prepare
from mongoshop._sync.repositories.orders import OrderRepository
from mongoshop.models.common import Document
from mongoshop.models.sales import PREFIX

READS = 15
FRESH = 3


def period(days: int) -> tuple[datetime, datetime]:
    """The dashboard's: the last `days` UTC days, today included."""
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return end - timedelta(days=days), end


def timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


class Burst:
    """Customers placing orders one after the other until stopped: the shop is busy."""

    def __init__(self, base: str, plan: dict[str, Any]) -> None:
        self.base, self.plan = base, plan
        self.stopping = threading.Event()
        self.placed = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        rng = random.Random(7)
        with httpx.Client(base_url=self.base, timeout=60) as http:
            tokens = [
                http.post(
                    "/auth/login",
                    json={"email": customer["email"], "password": self.plan["password"]},
                ).json()["access_token"]
                for customer in self.plan["customers"][:8]
            ]
            while not self.stopping.is_set():
                response = http.post(
                    "/orders",
                    headers={"Authorization": f"Bearer {rng.choice(tokens)}"},
                    json={
                        "items": [{"product_id": rng.choice(self.plan["products"]), "quantity": 1}]
                    },
                )
                self.placed += response.status_code == 201

    def __enter__(self) -> Burst:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=120)


def measure(base: str, uri: str, plan: dict[str, Any], size: int) -> list[dict[str, Any]]:
    client: MongoClient[Document] = MongoClient(uri, tz_aware=True)
    database = client[DATABASE]
    rows = []
    with httpx.Client(base_url=base, timeout=600) as http, Burst(base, plan) as burst:
        token = http.post(
            "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        admin = {"Authorization": f"Bearer {token}"}
        for days in (7, 30):
            start, end = period(days)
            params = {"start": start.isoformat(), "end": end.isoformat()}
            database.figures.delete_many({"_id": {"$regex": f"^{PREFIX}"}})

            def report(headers: dict[str, str], params: dict[str, str] = params) -> None:
                http.get(
                    "/admin/analytics/sales", params=params, headers=headers
                ).raise_for_status()

            first = timed(lambda: report(admin))
            kept = sorted(timed(lambda: report(admin)) for _ in range(READS))
            fresh = sorted(
                timed(lambda: report({**admin, "Cache-Control": "no-cache"})) for _ in range(FRESH)
            )
            names = [f"{PREFIX}{(start + timedelta(days=n)).date()}" for n in range(days)]
            raw_figures = sorted(
                timed(lambda names=names: list(database.figures.find({"_id": {"$in": names}})))
                for _ in range(READS)
            )
            pipeline = OrderRepository.sales_pipeline(start, end)
            raw_aggregate = sorted(
                timed(lambda pipeline=pipeline: list(database.orders.aggregate(pipeline)))
                for _ in range(FRESH)
            )
            orders = database.orders.count_documents(
                {"status": "completed", "created_at": {"$gte": start, "$lt": end}}
            )
            row = {
                "size": size,
                "days": days,
                "orders": orders,
                "first_ms": first,
                "kept_p50_ms": statistics.median(kept),
                "kept_max_ms": kept[-1],
                "fresh_p50_ms": statistics.median(fresh),
                "raw_figures_p50_ms": statistics.median(raw_figures),
                "raw_aggregate_p50_ms": statistics.median(raw_aggregate),
            }
            row["kept_vs_raw_figures"] = row["kept_p50_ms"] / row["raw_figures_p50_ms"]
            row["kept_vs_raw_aggregate"] = row["kept_p50_ms"] / row["raw_aggregate_p50_ms"]
            rows.append(row)
            console.print(
                f"{size:,} users, last {days} days ({orders:,} orders): first {first:.0f} ms,"
                f" then {row['kept_p50_ms']:.0f} ms p50 (max {kept[-1]:.0f});"
                f" fresh {row['fresh_p50_ms']:.0f} ms; raw figures"
                f" {row['raw_figures_p50_ms']:.1f} ms, raw aggregation"
                f" {row['raw_aggregate_p50_ms']:.0f} ms: kept/raw figures"
                f" {row['kept_vs_raw_figures']:.1f}x, kept/raw aggregation"
                f" {row['kept_vs_raw_aggregate']:.2f}x"
            )
        console.print(f"orders placed during the measures: {burst.placed}")
    client.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--data", type=Path, help="reuse (or keep) the filled shop here")
    args = parser.parse_args()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"sales-{stamp}"
    out.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        uri, plan = filled_shop(stack, args.size, args.data)
        extra = {"MONGOSHOP_ADMIN_EMAIL": ADMIN_EMAIL, "MONGOSHOP_ADMIN_PASSWORD": ADMIN_PASSWORD}
        with serving(
            uri, out, args.size, "EUR", worker=True, database=DATABASE, extra_env=extra
        ) as base:
            prepare(base, plan)
            rows = measure(base, uri, plan, args.size)
    save("sales", rows)


if __name__ == "__main__":
    main()
