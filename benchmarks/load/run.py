"""A day of customers at size: Locust against `mongoshop serve` (API and worker).

Builds a shop of `--size` products and as many users (each user with an account,
an order, a ledger entry, a transfer, a sent e-mail: `benchmarks.filler`) on an
embedded server, starts `mongoshop serve` on it with its worker and the API's
default 5 s request deadline, funds the customers Locust signs in as, computes
every listing the mix reads once (the shop as it is after running a while: see
below), then runs `locustfile.py` headless for `--minutes` with `--users`
simulated users (one of them the admin) and reports, per route, the requests
per second, p50 / p95 / p99 and the failures, against the targets of issue 22:
no failure, every point route's p99 within 1 s, every listing's within 2 s.

Locust's CSV and HTML reports are kept under ``benchmarks/results/load-<when>/``
with an SVG plot of the latency over the run (p50, p95, p99 of all routes, and
the requests per second).

Why the listings are computed once first: a listing page is cached in the API
process, and a broad one (a word every product has) takes longer than the
request deadline to compute on the embedded server at 100,000. Once computed,
it is served as last computed while it is recomputed (stale-while-revalidate:
docs/performance.md); the very first request for it after a restart is told
503 "being computed" instead, and the computation goes on for the next one.

    pip install -e '.[dev,bench]'
    python -m benchmarks.load.run [--size 100000] [--users 32] [--minutes 5]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

from benchmarks.bench_growth import PASSWORD, serving
from benchmarks.filler import ADJECTIVES, CATEGORIES, COMMON_PRODUCT_WORD, fill
from benchmarks.harness import RESULTS, console, embedded_server, save
from mongoshop._sync.shop import Shop
from mongoshop.db.embedded import EmbeddedServer
from mongoshop.models.common import Document
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings

DATABASE = "bench_load"
ADMIN_EMAIL = "load-admin@example.com"
ADMIN_PASSWORD = "load-admin-password-1"
CUSTOMERS = 64
FUNDS = 100_000_000
POINT_TARGET_MS = 1000.0
LISTING_TARGET_MS = 2000.0
LISTINGS = {
    "GET /products?category",
    "GET /products",
    "GET /products?q=common",
    "GET /products?q=rare",
    "GET /orders (mine)",
    "GET /users",
    "GET /orders (everyone's)",
    "GET /admin/analytics/sales",
}
"""Routes whose answer is a page of a listing or a report (2 s); the rest are point routes
(1 s): one document, or a dashboard's maintained figures."""
WARM_TIMEOUT_SECONDS = 600.0


def build(uri: str, size: int) -> dict[str, Any]:
    """Fill the shop; the plan Locust follows (customers, products, words)."""
    client: MongoClient[Document] = MongoClient(uri, tz_aware=True)
    try:
        database = client[DATABASE]
        settings = Settings(mongodb_uri=uri, mongodb_database=DATABASE)
        shop = Shop(database, settings, hasher=PasswordHasher())
        shop.ensure_indexes()
        started = time.perf_counter()
        fill(database, 0, size, PasswordHasher().hash(PASSWORD), settings.currency)
        console.print(
            f"{size:,} users and products filled in {time.perf_counter() - started:.0f} s"
        )
        rng = random.Random(22)
        numbers = rng.sample(range(size), min(size, 2000))
        products = [
            str(doc["_id"])
            for doc in database.products.find(
                {"name": {"$in": [name_of(n) for n in numbers]}}, {"_id": 1}
            )
        ]
        emails = [f"filler{n}@example.com" for n in rng.sample(range(size), CUSTOMERS)]
        users = {
            doc["email"]: doc["_id"] for doc in database.users.find({"email": {"$in": emails}})
        }
        accounts = {
            doc["user_id"]: str(doc["_id"])
            for doc in database.accounts.find({"user_id": {"$in": list(users.values())}})
        }
        return {
            "password": PASSWORD,
            "admin_email": ADMIN_EMAIL,
            "admin_password": ADMIN_PASSWORD,
            "customers": [{"email": email, "account": accounts[users[email]]} for email in emails],
            "accounts": [accounts[users[email]] for email in emails],
            "products": products,
            "categories": CATEGORIES,
            "common_word": COMMON_PRODUCT_WORD,
            # Numbers of the largest magnitude: a word only one product's name has.
            "rare_words": [str(n) for n in numbers if n >= size // 10][:200],
        }
    finally:
        client.close()


def name_of(n: int) -> str:
    return f"{ADJECTIVES[n % len(ADJECTIVES)].title()} {COMMON_PRODUCT_WORD} {n}"


def answered(call: Any) -> httpx.Response:
    """`call()` until it is not a 503 (the shop computing its figures and listings at
    start-up, see the module), within `WARM_TIMEOUT_SECONDS`; a failure raises."""
    deadline = time.monotonic() + WARM_TIMEOUT_SECONDS
    while True:
        response: httpx.Response = call()
        if response.status_code != 503 or time.monotonic() > deadline:
            return response.raise_for_status()
        time.sleep(2)


def prepare(base: str, plan: dict[str, Any]) -> None:
    """Fund the customers, then compute once every listing the mix reads."""
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=120) as http:
        login = answered(
            lambda: http.post(
                "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )
        )
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for account in plan["accounts"]:
            answered(
                lambda account=account: http.post(
                    f"/accounts/{account}/credit",
                    headers=admin,
                    json={"amount": FUNDS, "currency": "EUR", "reason": "load benchmark"},
                )
            )
        reads: list[tuple[str, dict[str, Any]]] = [("/products", {})]
        reads += [
            ("/products", {"category": c, "page": p}) for c in plan["categories"] for p in (1, 2, 3)
        ]
        reads += [("/products", {"q": plan["common_word"]})]
        reads += [("/users", {"page": p}) for p in (1, 2, 3)]
        reads += [("/orders", {}), ("/admin/stats/users", {}), ("/admin/stats/products", {})]
        for path, params in reads:
            answered(lambda path=path, params=params: http.get(path, params=params, headers=admin))
    console.print(
        f"customers funded and {len(reads)} listings computed once, from the shop's start,"
        f" in {time.perf_counter() - started:.0f} s"
    )


def run_locust(base: str, plan_path: Path, out: Path, users: int, minutes: float) -> None:
    locust = Path(sys.executable).with_name("locust")
    command = [
        str(locust),
        "-f",
        str(Path(__file__).with_name("locustfile.py")),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        "2",  # sign-ins (argon2, bounded) spread over the first seconds
        "--run-time",
        f"{int(minutes * 60)}s",
        "--host",
        base,
        "--csv",
        str(out / "load"),
        "--csv-full-history",
        "--html",
        str(out / "load.html"),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    env = {**os.environ, "MONGOSHOP_LOAD_PLAN": str(plan_path)}
    subprocess.run(command, env=env, check=False)


def read_stats(out: Path) -> list[dict[str, Any]]:
    rows = []
    with (out / "load_stats.csv").open() as handle:
        for row in csv.DictReader(handle):
            name = row["Name"]
            if name == "Aggregated" or name.startswith("/auth"):
                continue
            kind = "listing" if name in LISTINGS else "point"
            p99 = float(row["99%"])
            rows.append(
                {
                    "route": name,
                    "kind": kind,
                    "requests": int(row["Request Count"]),
                    "failures": int(row["Failure Count"]),
                    "per_s": float(row["Requests/s"]),
                    "p50_ms": float(row["50%"]),
                    "p95_ms": float(row["95%"]),
                    "p99_ms": p99,
                    "max_ms": float(row["Max Response Time"]),
                    "target_ms": LISTING_TARGET_MS if kind == "listing" else POINT_TARGET_MS,
                }
            )
    return sorted(rows, key=lambda row: (row["kind"], row["route"]))


def plot(out: Path) -> Path:
    """An SVG of p50 / p95 / p99 (all routes, Locust's moving window) and requests per second
    over the run, from Locust's history CSV."""
    points: list[tuple[float, float, float, float, float]] = []
    with (out / "load_stats_history.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["Name"] != "Aggregated" or row["50%"] in ("N/A", "0", ""):
                continue
            points.append(
                (
                    float(row["Timestamp"]),
                    float(row["50%"]),
                    float(row["95%"]),
                    float(row["99%"]),
                    float(row["Requests/s"]),
                )
            )
    width, height, left, bottom, top = 900, 360, 60, 40, 20
    start, end = points[0][0], points[-1][0]
    most = max(2500.0, max(p[3] for p in points))
    most_rate = max(1.0, max(p[4] for p in points))

    def x(t: float) -> float:
        return left + (t - start) / max(1.0, end - start) * (width - left - 20)

    def y(ms: float) -> float:
        return top + (1 - ms / most) * (height - top - bottom)

    def y_rate(rate: float) -> float:
        return top + (1 - rate / most_rate) * (height - top - bottom)

    def line(index: int, colour: str, scale: Any = y) -> str:
        path = " ".join(f"{x(p[0]):.1f},{scale(p[index]):.1f}" for p in points)
        return f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>'

    grid = "".join(
        f'<line x1="{left}" x2="{width - 20}" y1="{y(ms):.1f}" y2="{y(ms):.1f}" stroke="#ddd"/>'
        f'<text x="{left - 6}" y="{y(ms) + 4:.1f}" text-anchor="end" font-size="11">{ms:.0f}</text>'
        for ms in range(0, int(most) + 1, 500)
    )
    targets = "".join(
        f'<line x1="{left}" x2="{width - 20}" y1="{y(ms):.1f}" y2="{y(ms):.1f}" stroke="{c}"'
        f' stroke-dasharray="4 4"/>'
        for ms, c in ((POINT_TARGET_MS, "#b58900"), (LISTING_TARGET_MS, "#cb4b16"))
    )
    legend = "".join(
        f'<text x="{left + 10 + 130 * i}" y="{height - 8}" font-size="12" fill="{c}">{label}</text>'
        for i, (label, c) in enumerate(
            [
                ("p50 (ms)", "#268bd2"),
                ("p95 (ms)", "#859900"),
                ("p99 (ms)", "#dc322f"),
                ("requests/s (top: the peak)", "#6c71c4"),
                ("- - 1 s, 2 s targets", "#b58900"),
            ]
        )
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>'
        f"{grid}{targets}{line(1, '#268bd2')}{line(2, '#859900')}{line(3, '#dc322f')}"
        f"{line(4, '#6c71c4', y_rate)}{legend}"
        f'<text x="{width - 20}" y="{height - 24}" text-anchor="end" font-size="11">'
        f"{(end - start) / 60:.1f} min, peak {most_rate:.0f} requests/s</text></svg>"
    )
    path = out / "latency.svg"
    path.write_text(svg)
    return path


def markdown(rows: list[dict[str, Any]]) -> str:
    """The per-route figures as a Markdown table (for benchmarks/RESULTS.md)."""
    lines = [
        "| route | kind | requests | failures | per s | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| `{row['route']}` | {row['kind']} | {row['requests']} | {row['failures']}"
            f" | {row['per_s']:.1f} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f}"
            f" | {row['p99_ms']:.0f} | {row['max_ms']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def report(rows: list[dict[str, Any]]) -> bool:
    from rich.table import Table

    table = Table(title="Load: Locust against mongoshop serve (API and worker)")
    for column in ("route", "kind", "requests", "failures", "per s", "p50", "p95", "p99", "max"):
        table.add_column(
            column, justify="left" if column in ("route", "kind") else "right", no_wrap=True
        )
    met = True
    for row in rows:
        within = row["p99_ms"] <= row["target_ms"] and row["failures"] == 0
        met &= within
        table.add_row(
            row["route"],
            row["kind"],
            str(row["requests"]),
            str(row["failures"]),
            f"{row['per_s']:.1f}",
            f"{row['p50_ms']:.0f}",
            f"{row['p95_ms']:.0f}",
            f"{row['p99_ms']:.0f}" + ("" if within else " ✗"),
            f"{row['max_ms']:.0f}",
        )
    console.print(table)
    total = sum(row["requests"] for row in rows)
    failures = sum(row["failures"] for row in rows)
    console.print(
        f"{total} requests, {failures} failures, {sum(r['per_s'] for r in rows):.1f} per s;"
        f" targets {'met' if met else 'NOT met'}"
    )
    return met


def filled_shop(
    stack: contextlib.ExitStack, size: int, data: Path | None
) -> tuple[str, dict[str, Any]]:
    """An embedded server (kept in `stack`) with a shop of `size` and its plan: filled now,
    or found filled before in `data` (filling 100,000 takes ~11 minutes)."""
    if data is None:
        uri = stack.enter_context(embedded_server())
    else:
        data.mkdir(parents=True, exist_ok=True)
        uri = stack.enter_context(EmbeddedServer(data, extra_args=["--sync-on-commit"])).uri
    kept = None if data is None else data / f"plan-{size}.json"
    if kept is not None and kept.exists():
        console.print(f"the shop of {size:,} in {data}, filled before")
        return uri, json.loads(kept.read_text())
    plan = build(uri, size)
    if kept is not None:
        kept.write_text(json.dumps(plan))
    return uri, plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument(
        "--data",
        type=Path,
        help="keep the embedded server's data here and reuse a shop filled before (filling"
        " 100,000 takes ~11 minutes); its orders and transfers accumulate across runs",
    )
    args = parser.parse_args()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"load-{stamp}"
    out.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        uri, plan = filled_shop(stack, args.size, args.data)
        plan_path = out / "plan.json"
        plan_path.write_text(json.dumps(plan))
        extra = {
            "MONGOSHOP_OPERATION_TIMEOUT_SECONDS": "5",
            "MONGOSHOP_SOCKET_TIMEOUT_MS": "20000",
            "MONGOSHOP_ADMIN_EMAIL": ADMIN_EMAIL,
            "MONGOSHOP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
        # The work directory is the results' (serve's log is kept with Locust's reports).
        with serving(
            uri, out, args.size, "EUR", worker=True, database=DATABASE, extra_env=extra
        ) as base:
            prepare(base, plan)
            run_locust(base, plan_path, out, args.users, args.minutes)
    rows = read_stats(out)
    (out / "summary.md").write_text(markdown(rows))
    met = report(rows)
    console.print(f"reports and plot: {out} ({plot(out).name}, load.html, load_stats.csv)")
    save("load", [{**row, "size": args.size, "users": args.users} for row in rows])
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
