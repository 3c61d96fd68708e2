"""The smallest reproduction of the flash-sale stall (docs/embedded-database.md, issue 19).

A request's deadline expires while a statement of its transaction is in flight
(here: the server is made to sit on the order's insert with a ``failCommand``
failpoint, as a loaded server does). PyMongo then closes the connection; the
abort it owes would exceed the expired deadline, so it is never sent, and the
dirty session is never reused. The transaction stays open on the server: it
holds its write (another client's write to the same product waits) and its
snapshot, and a bulk insert into the collection crawls while holding the
collection's lock, so every other write to the collection waits behind it.

Three cases, each on a fresh embedded server (``--sync-on-commit``, as the
project runs it), each then importing `--documents` products in batches of
1,000 while a probe writes to another product every second:

- ``control``: no transaction left open;
- ``abandoned``: the transaction of a request that gave up, as PyMongo's
  `with_transaction` leaves it;
- ``ended``: the same, then ended on the server (``killSessions``), as
  `mongoshop._async.transactions` does on every exit path.

    python -m benchmarks.repro_stalled_collection [--documents 30000]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pymongo
from pymongo import IndexModel, MongoClient
from pymongo.client_session import ClientSession
from pymongo.errors import PyMongoError
from rich.console import Console
from rich.table import Table

from mongoshop.db import EmbeddedServer

BATCH = 1_000
INDEXES = [
    IndexModel([("category", 1), ("price.amount", 1)]),
    IndexModel([("category", 1), ("created_at", -1)]),
    IndexModel([("tags", 1)]),
    IndexModel([("search_tokens", 1)]),
    IndexModel([("created_at", -1), ("_id", -1)]),
    IndexModel([("price.amount", 1), ("_id", 1)]),
    IndexModel([("name", 1), ("_id", 1)]),
]


def abandon_a_transaction(
    client: MongoClient[dict[str, object]], uri: str
) -> tuple[bool, ClientSession]:
    """A request that gives up mid-transaction: whether the product is still held after
    the blocked statement ended, and the session it left."""
    client.admin.command(
        "configureFailPoint",
        "failCommand",
        mode={"times": 1},
        data={"failCommands": ["insert"], "blockConnection": True, "blockTimeMS": 1500},
    )
    shop = client.shop
    session = client.start_session()

    def buy(s: ClientSession) -> None:
        shop.orders.find_one({"user_id": 1, "idempotency_key": "k"}, session=s)
        shop.products.update_one({"_id": "hot"}, {"$inc": {"stock": -1}}, session=s)
        shop.products.find_one({"_id": "hot"}, session=s)
        shop.orders.insert_one({"user_id": 1}, session=s)  # the server sits on this one

    try:
        with pymongo.timeout(0.5):
            session.with_transaction(buy)
    except PyMongoError:
        pass
    time.sleep(1.5)  # the blocked insert has ended on the server
    other: MongoClient[dict[str, object]] = MongoClient(
        uri, socketTimeoutMS=2000, retryWrites=False
    )
    try:
        other.shop.products.update_one({"_id": "hot"}, {"$set": {"probe": time.time()}})
        held = False
    except PyMongoError:
        held = True
    finally:
        other.close()
    return held, session


def run_case(case: str, documents: int) -> dict[str, object]:
    with (
        tempfile.TemporaryDirectory(prefix="mongoshop-repro-") as directory,
        EmbeddedServer(Path(directory), extra_args=["--enable-test-commands"]) as server,
    ):
        client: MongoClient[dict[str, object]] = MongoClient(server.uri)
        products = client.shop.products
        products.create_indexes(INDEXES)
        products.insert_many([{"_id": "hot", "stock": 1000}, {"_id": "other", "stock": 10}])
        held = False
        if case != "control":
            held, session = abandon_a_transaction(client, server.uri)
            if case == "ended":
                client.admin.command("killSessions", [session.session_id])
        probes: list[float] = []
        stop = threading.Event()

        def probe() -> None:
            prober: MongoClient[dict[str, object]] = MongoClient(
                server.uri, socketTimeoutMS=60_000, retryWrites=False
            )
            while not stop.wait(1.0):
                started = time.perf_counter()
                with contextlib.suppress(PyMongoError):
                    prober.shop.products.update_one({"_id": "other"}, {"$inc": {"stock": 1}})
                probes.append(time.perf_counter() - started)
            prober.close()

        thread = threading.Thread(target=probe)
        thread.start()
        now = datetime.now(UTC)
        started = time.perf_counter()
        slowest_batch = 0.0
        for first in range(0, documents, BATCH):
            batch_started = time.perf_counter()
            products.insert_many(
                [
                    {
                        "name": f"Imported {n}",
                        "category": ("books", "toys", "garden")[n % 3],
                        "price": {"amount": 100 + n % 900, "currency": "EUR"},
                        "tags": ["new", f"t{n % 50}"],
                        "search_tokens": ["imported", str(n)],
                        "created_at": now,
                        "inventory": {"quantity": 5},
                        "description": "x" * 200,
                    }
                    for n in range(first, first + BATCH)
                ],
                ordered=False,
            )
            slowest_batch = max(slowest_batch, time.perf_counter() - batch_started)
        seconds = time.perf_counter() - started
        stop.set()
        thread.join()
        client.close()
    return {
        "case": case,
        "held": held,
        "import_seconds": seconds,
        "slowest_batch": slowest_batch,
        "probe_median": statistics.median(probes) if probes else 0.0,
        "probe_max": max(probes) if probes else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=30_000)
    args = parser.parse_args()
    table = Table(title=f"A bulk insert of {args.documents} products after a request gave up")
    for column in (
        "case",
        "hot product held",
        "import (s)",
        "slowest batch (s)",
        "other product's write, median (s)",
        "… max (s)",
    ):
        table.add_column(column)
    for case in ("control", "abandoned", "ended"):
        row = run_case(case, args.documents)
        table.add_row(
            case,
            "yes" if row["held"] else "no",
            f"{row['import_seconds']:.1f}",
            f"{row['slowest_batch']:.1f}",
            f"{row['probe_median']:.2f}",
            f"{row['probe_max']:.2f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
