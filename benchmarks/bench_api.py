"""API: authenticated `GET /users/{id}` and `GET /products?category=&page=` under load.

The app runs as `mongoshop serve` (uvicorn) in its own process, the load comes
from a second process (benchmarks/loadgen.py) at a bounded concurrency, and
the baseline is a raw `AsyncMongoClient` loop (also its own process) doing the
same queries at the same concurrency. Ratio = API requests/s ÷ raw queries/s.

    python -m benchmarks.bench_api [--concurrency 50] [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient, MongoClient

from benchmarks.harness import Contender, embedded_server, measure, report, save
from mongoshop._sync.shop import Shop
from mongoshop.models.common import Document
from mongoshop.seeding import seed_all
from mongoshop.settings import Settings

DATABASE = "bench_api"
PASSWORD = "bench-password-1"


async def raw_loop(
    uri: str, kind: str, ids: list[Any], concurrency: int, seconds: float
) -> dict[str, float]:
    """What the endpoint does, minus the web framework: the same query, same concurrency."""
    from bson import ObjectId

    client: AsyncMongoClient[Document] = AsyncMongoClient(
        uri, tz_aware=True, maxPoolSize=concurrency
    )
    database = client[DATABASE]
    count = 0
    deadline = time.perf_counter() + seconds

    async def one(worker: int) -> None:
        nonlocal count
        index = worker
        while time.perf_counter() < deadline:
            if kind == "users":
                await database.users.find_one({"_id": ObjectId(ids[index % len(ids)])})
            else:
                category = ids[index % len(ids)]
                query = {"category": category}
                cursor = (
                    database.products.find(query).sort([("created_at", -1), ("_id", -1)]).limit(20)
                )
                await cursor.to_list()
                await database.products.count_documents(query)
            index += concurrency
            count += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(worker) for worker in range(concurrency)))
    elapsed = time.perf_counter() - started
    await client.close()
    return {"requests": count, "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cases = []
    with embedded_server() as uri, tempfile.TemporaryDirectory() as workdir:
        settings = Settings(mongodb_uri=uri, mongodb_database=DATABASE)  # type: ignore[call-arg]
        client: MongoClient[Document] = MongoClient(uri, tz_aware=True)
        shop = Shop(client[DATABASE], settings)
        shop.ensure_indexes()
        seed_all(shop, users=200, products=2000, orders=0, seed=3)
        user = shop.users.create_admin(email="bench@example.com", password=PASSWORD, name="Bench")
        user_ids = [
            str(document["_id"]) for document in client[DATABASE].users.find({}, {"_id": 1})
        ]
        categories = sorted(client[DATABASE].products.distinct("category"))

        port = 18000 + random.randrange(1000)
        env = {
            **os.environ,
            "MONGODB_URI": uri,
            "MONGODB_DATABASE": DATABASE,
            "MONGOSHOP_DATA_DIR": workdir,
        }
        app = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("mongoshop")),
                "serve",
                "--no-demo",
                "--no-worker",
                "--no-access-log",
                "--port",
                str(port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(120):
                try:
                    if httpx.get(f"{base}/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            token = httpx.post(
                f"{base}/auth/login", json={"email": "bench@example.com", "password": PASSWORD}
            ).json()["access_token"]

            def loadgen(paths: list[str], headers: list[str]) -> float:
                command = [
                    sys.executable,
                    "-m",
                    "benchmarks.loadgen",
                    base,
                    ",".join(paths),
                    "--concurrency",
                    str(args.concurrency),
                    "--seconds",
                    str(args.seconds),
                ]
                for header in headers:
                    command += ["--header", header]
                result = json.loads(
                    subprocess.run(command, capture_output=True, text=True, check=True).stdout
                )
                if result["errors"]:
                    raise RuntimeError(f"{result['errors']} failed requests")
                return result["requests"] / result["seconds"] * args.seconds

            def raw(kind: str, ids: list[Any]) -> float:
                code = (
                    "import asyncio, json, sys; from benchmarks.bench_api import raw_loop; "
                    "print(json.dumps(asyncio.run(raw_loop(*json.loads(sys.argv[1])))))"
                )
                payload = json.dumps([uri, kind, ids, args.concurrency, args.seconds])
                result = json.loads(
                    subprocess.run(
                        [sys.executable, "-c", code, payload],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                )
                return result["requests"] / result["seconds"] * args.seconds

            for kind, paths, ids, headers in (
                (
                    "users",
                    [f"/users/{user.id}"],
                    [str(user.id)],
                    [f"Authorization: Bearer {token}"],
                ),
                (
                    "products",
                    [f"/products?category={c}&page=1" for c in categories],
                    categories,
                    [],
                ),
            ):
                contenders = [
                    Contender(f"raw AsyncMongoClient ({kind})", lambda k=kind, i=ids: raw(k, i)),
                    Contender(f"mongoshop API ({kind})", lambda p=paths, h=headers: loadgen(p, h)),
                ]
                measure(contenders, rounds=args.rounds, warmup=1)
                for contender in contenders:  # rates per second, not per run
                    contender.seconds = [args.seconds for _ in contender.seconds]
                cases.append(
                    report(
                        "api",
                        f"{kind} at concurrency {args.concurrency}",
                        contenders,
                        "req",
                        f"raw AsyncMongoClient ({kind})",
                    )
                )
            del user_ids
        finally:
            app.terminate()
            app.wait(30)
            client.close()
    save("api", cases)


if __name__ == "__main__":
    main()
