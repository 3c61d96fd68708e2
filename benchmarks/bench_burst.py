"""Bursts: how fast `serve`'s worker drains a burst of events, and what the API feels meanwhile.

One embedded server; a shop of `--shop` users and products (and as many
accounts, orders, ledger entries, sent e-mails...: `benchmarks.filler`) with
one active webhook subscription (`user.registered`, `order.placed`) to a local
receiver that answers 204 at once; `mongoshop serve --no-demo` runs on it, API
and worker, as users run it, its mail written as .eml files.

1. **Idle**: the point operations of `bench_growth` (sign-in, profile, a
   product, an order, a transfer) are timed `--probes` times each.
2. **Burst**: `--signups` confirmed users and `--orders` orders (one each, by
   those users) are written at once, raw, through PyMongo: the same change
   events as sign-ups and orders through the API, without the API's own cost
   in the way. Each user means a welcome e-mail and a `user.registered`
   delivery, each order an order e-mail and an `order.placed` delivery. Timed
   from the first write to the last e-mail file and the last delivery received:
   the **drain rate** (items per second, one worker). Meanwhile the same point
   operations are timed again, round after round: **the API during the drain**,
   next to idle.
3. **Two workers**: a `mongoshop worker` joins, and a second burst of the same
   size is drained by both: the rate, and its ratio to one worker's.
4. **Flat per item**: in a database of its own, the step a sender repeats
   (claim, record) at a backlog of `--small` and `--large` items in line (and as
   many done), the backlogs taking turns call by call, next to raw PyMongo's
   ``find_one`` by ``_id`` on the same collection.

Targets (issue 20): drain >= 100 items/s with one worker, two workers >= 1.6x
one; the claim within 1.5x from the small to the large backlog; during the
drain, each point operation's median within 1.5x and p99 within 3x of idle.

    python -m benchmarks.bench_burst [--shop 20000] [--signups 2500] [--orders 2500]
        [--traced]

``--traced``: tracing on everywhere, every trace kept (the servers, the second
worker, and this process's claims: `benchmarks.bench_tracing.everything_traced`).
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database
from rich.table import Table

from benchmarks.bench_growth import (
    PASSWORD,
    Api,
    create_probe,
    free_port,
    serving,
)
from benchmarks.bench_tracing import everything_traced
from benchmarks.filler import fill, insert_all
from benchmarks.harness import console, embedded_server, save
from mongoshop._async.repositories.users import user_document
from mongoshop._sync.shop import Shop
from mongoshop.clock import utcnow
from mongoshop.mail.documents import outbox_document
from mongoshop.models.common import Document
from mongoshop.models.mail import MailKind, MailStatus
from mongoshop.models.webhooks import EventType, SubscriptionRequest
from mongoshop.observability.tracing import configure_tracing, shutdown_tracing
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings
from mongoshop.webhooks.signing import EVENT_ID_HEADER

DATABASE = "bench_burst"
CLAIMS_DATABASE = "bench_burst_claims"
DRAIN_TIMEOUT_SECONDS = 1800.0
WRITE_BATCH = 500
ENV = {
    "MONGOSHOP_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "MONGOSHOP_OPERATION_TIMEOUT_SECONDS": "30",
}
"""The receiver is on loopback; the probes measure time, never a 503 of the deadline."""


# --- the receiver ---------------------------------------------------------------------------


class Receiver(http.server.ThreadingHTTPServer):
    """Answers every POST with 204 at once and remembers each event id it got."""

    daemon_threads = True

    def __init__(self) -> None:
        self.events: set[str] = set()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", free_port()), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def received(self) -> int:
        with self.lock:
            return len(self.events)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        event = self.headers.get(EVENT_ID_HEADER) or str(hash(body))
        with self.server.lock:
            self.server.events.add(event)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()


# --- the burst ------------------------------------------------------------------------------


def write_burst(database: Database[Document], tag: str, signups: int, orders: int) -> None:
    """`signups` confirmed users, then `orders` orders by the first of them, raw."""
    template = database.orders.find_one({}, {"_id": 0})
    assert template is not None, "the filler's orders are the template"
    password_hash = database.users.find_one({}, {"password_hash": 1})
    assert password_hash is not None
    users: list[Document] = []
    for n in range(signups):
        user = user_document(
            name=f"Burst Person {tag} {n}",
            email=f"burst-{tag}-{n}@example.com",
            password_hash=password_hash["password_hash"],
        )
        user["_id"] = ObjectId()
        users.append(user)
    for start in range(0, signups, WRITE_BATCH):
        insert_all(database.users, users[start : start + WRITE_BATCH])
    now = utcnow()
    placed = [
        {**template, "_id": ObjectId(), "user_id": users[n % signups]["_id"], "created_at": now}
        for n in range(orders)
    ]
    for order in placed:
        order.pop("idempotency_key", None)
    for start in range(0, orders, WRITE_BATCH):
        insert_all(database.orders, placed[start : start + WRITE_BATCH])


def mail_files(directory: Path) -> int:
    if not directory.exists():
        return 0
    return sum(1 for entry in directory.iterdir() if entry.suffix == ".eml")


def drain(
    database: Database[Document],
    receiver: Receiver,
    mail_dir: Path,
    tag: str,
    signups: int,
    orders: int,
    during: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Write a burst and wait until its e-mails and deliveries are all out; the figures."""
    mails_before, events_before = mail_files(mail_dir), receiver.received()
    mails_wanted, events_wanted = signups + orders, signups + orders
    started = time.perf_counter()
    write_burst(database, tag, signups, orders)
    written = time.perf_counter() - started
    deadline = started + DRAIN_TIMEOUT_SECONDS
    reported = started
    while True:
        if during is not None:
            during()
        else:
            time.sleep(0.5)
        mails = mail_files(mail_dir) - mails_before
        events = receiver.received() - events_before
        if mails >= mails_wanted and events >= events_wanted:
            break
        if time.perf_counter() - reported > 10:
            reported = time.perf_counter()
            elapsed = reported - started
            console.print(f"    {elapsed:.0f} s: {mails:,} e-mails, {events:,} deliveries")
        if time.perf_counter() > deadline:
            raise RuntimeError(
                f"not drained after {DRAIN_TIMEOUT_SECONDS:.0f} s: {mails}/{mails_wanted}"
                f" e-mails, {events}/{events_wanted} deliveries"
            )
    seconds = time.perf_counter() - started
    items = mails_wanted + events_wanted
    return {"items": items, "seconds": seconds, "written_in": written, "rate": items / seconds}


# --- the API meanwhile ----------------------------------------------------------------------


def point_operations(api: Api) -> dict[str, Callable[[], httpx.Response]]:
    return {
        "sign-in": lambda: api.http.post(
            "/auth/login", json={"email": api.probe.buyer_email, "password": PASSWORD}
        ),
        "profile (GET /accounts/me)": lambda: api.http.get("/accounts/me", headers=api.buyer()),
        "a product": lambda: api.http.get(f"/products/{api.probe.product}"),
        "an order (POST /orders)": lambda: api.place_order(),
        "a transfer (POST /transfers)": lambda: api.transfer(),
    }


def probe_round(
    operations: dict[str, Callable[[], httpx.Response]], into: dict[str, list[float]]
) -> None:
    for name, call in operations.items():
        started = time.perf_counter()
        response = call()
        into.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        if response.status_code >= 400:
            raise RuntimeError(f"{name}: {response.status_code} {response.text[:300]}")


def command_totals(http: httpx.Client) -> dict[str, tuple[float, float]]:
    """serve's database commands so far (API and worker): (count, seconds) by command."""
    totals: dict[str, list[float]] = {}
    for line in http.get("/metrics").text.splitlines():
        for suffix, slot in (("_count{", 0), ("_sum{", 1)):
            prefix = "mongoshop_db_command_duration_seconds" + suffix
            if line.startswith(prefix):
                command = line.split('command="', 1)[1].split('"', 1)[0]
                totals.setdefault(command, [0.0, 0.0])[slot] = float(line.rsplit(" ", 1)[1])
    return {command: (count, seconds) for command, (count, seconds) in totals.items()}


def commands_per_item(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]], items: float
) -> dict[str, dict[str, float]]:
    """What the burst cost the database, per item: commands and their round-trip time."""
    return {
        command: {
            "per_item": (count - before.get(command, (0.0, 0.0))[0]) / items,
            "ms_per_item": (seconds - before.get(command, (0.0, 0.0))[1]) * 1000 / items,
        }
        for command, (count, seconds) in after.items()
        if count > before.get(command, (0.0, 0.0))[0]
    }


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


# --- the claim at two backlogs --------------------------------------------------------------


def claim_figures(
    client: MongoClient[Document], uri: str, small: int, large: int, calls: int
) -> dict[str, Any]:
    """The sender's step (claim, record sent) at two backlogs, next to raw find_one by _id."""
    shops = {}
    for size in (small, large):
        name = f"{CLAIMS_DATABASE}_{size}"
        client.drop_database(name)
        shop = Shop(client[name], Settings(mongodb_uri=uri, mongodb_database=name))
        shop.ensure_indexes()
        for start in range(0, size, WRITE_BATCH):
            numbers = range(start, min(size, start + WRITE_BATCH))
            pending = [_mail(n) for n in numbers]
            done = [{**_mail(size + n), "status": MailStatus.SENT.value} for n in numbers]
            shop.repositories.outbox.enqueue_many(pending + done)
        shops[size] = shop
    probe_id = {size: _any_id(shop) for size, shop in shops.items()}
    step: dict[int, list[float]] = {small: [], large: []}
    raw: dict[int, list[float]] = {small: [], large: []}
    for _ in range(calls):
        for size, shop in shops.items():
            outbox = shop.repositories.outbox
            started = time.perf_counter()
            claimed = outbox.claim("bench", utcnow(), timedelta(minutes=5))
            assert claimed is not None
            outbox.mark_sent(claimed.key, "bench", utcnow())
            step[size].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            outbox.collection.find_one({"_id": probe_id[size]})
            raw[size].append((time.perf_counter() - started) * 1000)
    figures: dict[str, Any] = {
        "backlogs": [small, large],
        "claim_and_record_ms": [statistics.median(step[small]), statistics.median(step[large])],
        "raw_find_one_ms": [statistics.median(raw[small]), statistics.median(raw[large])],
    }
    figures["claim_ratio"] = figures["claim_and_record_ms"][1] / figures["claim_and_record_ms"][0]
    figures["raw_ratio"] = figures["raw_find_one_ms"][1] / figures["raw_find_one_ms"][0]
    return figures


def _any_id(shop: Shop) -> Any:
    found = shop.repositories.outbox.collection.find_one({}, {"_id": 1})
    assert found is not None
    return found["_id"]


def _mail(n: int) -> Document:
    email = f"reader{n}@example.com"
    return outbox_document(
        MailKind.WELCOME, ObjectId(), email, None, {"name": "Reader", "email": email}
    )


# --- the run ----------------------------------------------------------------------------------


@contextlib.contextmanager
def extra_worker(uri: str, workdir: Path) -> Iterator[None]:
    """A `mongoshop worker` on the same database, beside serve's own."""
    env = {
        "MONGODB_URI": uri,
        "MONGODB_DATABASE": DATABASE,
        "MONGOSHOP_DATA_DIR": str(workdir),
        "MONGOSHOP_LOG_LEVEL": "WARNING",
        "PATH": str(Path(sys.executable).parent),
    } | ENV
    env |= {key: value for key, value in os.environ.items() if key.startswith("OTEL_")}
    log = (workdir / "worker.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("mongoshop")), "worker"],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(5)  # its streams open
        if process.poll() is not None:
            raise RuntimeError("mongoshop worker exited:\n" + (workdir / "worker.log").read_text())
        yield
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--shop", type=int, default=20_000, help="Users and products in the shop")
    parser.add_argument("--signups", type=int, default=2_500, help="Users in each burst")
    parser.add_argument("--orders", type=int, default=2_500, help="Orders in each burst")
    parser.add_argument(
        "--probes", type=int, default=20, help="Idle rounds of the point operations"
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="No API calls during the first drain (the worker's rate alone)",
    )
    parser.add_argument("--small", type=int, default=100, help="The small backlog of the claim")
    parser.add_argument("--large", type=int, default=20_000, help="The large backlog of the claim")
    parser.add_argument(
        "--traced", action="store_true", help="tracing on everywhere, every trace kept"
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        exports = stack.enter_context(everything_traced()) if args.traced else []
        if args.traced:
            configure_tracing("bench-burst")
            stack.callback(shutdown_tracing)
        run(args)
        if args.traced:
            console.print(f"{len(exports)} OTLP exports received, {sum(exports):,} bytes")


def run(args: argparse.Namespace) -> None:
    results: dict[str, Any] = {"shop": args.shop, "signups": args.signups, "orders": args.orders}
    with embedded_server() as uri, tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
        workdir = Path(tmp)
        client: MongoClient[Document] = MongoClient(uri, tz_aware=True)
        try:
            hasher = PasswordHasher()
            database = client[DATABASE]
            shop = Shop(
                database, Settings(mongodb_uri=uri, mongodb_database=DATABASE), hasher=hasher
            )
            shop.ensure_indexes()
            probe = create_probe(shop)
            started = time.perf_counter()
            fill(database, 0, args.shop, hasher.hash(PASSWORD), probe.currency)
            console.print(f"shop of {args.shop:,}: filled in {time.perf_counter() - started:.0f} s")
            with receiving() as receiver:
                allowed = shop.settings.model_copy(update={"webhook_allow_private_targets": True})
                Shop(database, allowed, hasher=hasher).webhooks.create(
                    SubscriptionRequest(
                        url=receiver.url,
                        event_types=[EventType.USER_REGISTERED, EventType.ORDER_PLACED],
                    )
                )
                with (
                    serving(
                        uri, workdir, args.shop, probe.currency, database=DATABASE, extra_env=ENV
                    ) as base,
                    httpx.Client(base_url=base, timeout=120) as http,
                ):
                    api = Api(http, probe, args.shop, database)
                    api.sign_in()
                    operations = point_operations(api)
                    idle: dict[str, list[float]] = {}
                    for _ in range(args.probes):
                        probe_round(operations, idle)
                    console.print("idle probes done; burst 1 (serve's worker)...")
                    busy: dict[str, list[float]] = {}
                    commands_before = command_totals(http)
                    one = drain(
                        database,
                        receiver,
                        workdir / "mail",
                        "one",
                        args.signups,
                        args.orders,
                        during=None if args.quiet else lambda: probe_round(operations, busy),
                    )
                    console.print(described(one))
                    console.print(api_table(api_figures(operations, idle, busy)))
                    results["commands"] = commands_per_item(
                        commands_before, command_totals(http), one["items"]
                    )
                    console.print("burst 2 (serve's worker and a second one)...")
                    with extra_worker(uri, workdir):
                        two = drain(
                            database, receiver, workdir / "mail", "two", args.signups, args.orders
                        )
                    console.print(described(two))
            results["one_worker"] = one
            results["two_workers"] = two
            results["two_over_one"] = two["rate"] / one["rate"]
            results["api"] = api_figures(operations, idle, busy)
            console.print("the claim at two backlogs...")
            results["claim"] = claim_figures(client, uri, args.small, args.large, 30)
        finally:
            client.close()
    report(results)
    save("burst", [results])


def api_figures(
    operations: dict[str, Callable[[], httpx.Response]],
    idle: dict[str, list[float]],
    busy: dict[str, list[float]],
) -> dict[str, dict[str, float]]:
    """Each point operation's median and p99, idle and during the first drain (ms)."""
    return {
        name: {
            "idle_median_ms": statistics.median(idle[name]),
            "idle_p99_ms": p99(idle[name]),
            "drain_median_ms": statistics.median(busy.get(name) or [0.0]),
            "drain_p99_ms": p99(busy.get(name) or [0.0]),
            "drain_calls": len(busy.get(name, [])),
        }
        for name in operations
    }


def described(figures: dict[str, float]) -> str:
    items, seconds, rate = figures["items"], figures["seconds"], figures["rate"]
    return f"  {items:,.0f} items in {seconds:.1f} s: {rate:.1f}/s"


def api_table(api: dict[str, dict[str, float]]) -> Table:
    table = Table(title="The API: idle, and during the drain (ms)")
    for column in (
        "operation",
        "idle median",
        "drain median",
        "ratio",
        "idle p99",
        "drain p99",
        "ratio",
    ):
        table.add_column(column, justify="right")
    for name, row in api.items():
        if not row["drain_calls"]:
            continue  # --quiet: no calls during the drain
        table.add_row(
            name,
            f"{row['idle_median_ms']:.1f}",
            f"{row['drain_median_ms']:.1f}",
            f"{row['drain_median_ms'] / row['idle_median_ms']:.2f}x",
            f"{row['idle_p99_ms']:.1f}",
            f"{row['drain_p99_ms']:.1f}",
            f"{row['drain_p99_ms'] / row['idle_p99_ms']:.2f}x",
        )
    return table


def report(results: dict[str, Any]) -> None:
    burst = f"{results['signups']:,} sign-ups + {results['orders']:,} orders"
    drain_table = Table(title=f"Drain of a burst ({burst}, shop of {results['shop']:,})")
    for column in ("workers", "items", "seconds", "items/s", "target"):
        drain_table.add_column(column, justify="right")
    one, two = results["one_worker"], results["two_workers"]
    drain_table.add_row(
        "1", f"{one['items']:,.0f}", f"{one['seconds']:.1f}", f"{one['rate']:.1f}", ">= 100/s"
    )
    drain_table.add_row(
        "2",
        f"{two['items']:,.0f}",
        f"{two['seconds']:.1f}",
        f"{two['rate']:.1f} ({results['two_over_one']:.2f}x)",
        ">= 1.6x",
    )
    console.print(drain_table)
    console.print(api_table(results["api"]))
    commands_table = Table(title="serve's database commands during the first drain, per item")
    for column in ("command", "commands per item", "round trips, ms per item"):
        commands_table.add_column(column, justify="right")
    ranked = sorted(results["commands"].items(), key=lambda kv: -kv[1]["ms_per_item"])
    for command, row in ranked:
        commands_table.add_row(command, f"{row['per_item']:.2f}", f"{row['ms_per_item']:.1f}")
    console.print(commands_table)
    claim = results["claim"]
    claim_table = Table(title="The sender's step (claim and record) at two backlogs (ms, medians)")
    for column in ("", *(f"{size:,}" for size in claim["backlogs"]), "ratio"):
        claim_table.add_column(column, justify="right")
    small, large = claim["claim_and_record_ms"]
    claim_table.add_row(
        "claim and record", f"{small:.2f}", f"{large:.2f}", f"{claim['claim_ratio']:.2f}x"
    )
    small, large = claim["raw_find_one_ms"]
    claim_table.add_row(
        "raw find_one by _id", f"{small:.2f}", f"{large:.2f}", f"{claim['raw_ratio']:.2f}x"
    )
    console.print(claim_table)


if __name__ == "__main__":
    main()
