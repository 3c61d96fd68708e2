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
import contextlib
import json
import os
import socket
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


def start_serve(
    uri: str, workdir: str, extra: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`mongoshop serve --no-worker` on `uri`'s shop (its environment's MONGOSHOP_ and OTEL_
    variables left out, `extra` added), once it answers ``/health``: (process, base URL)."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MONGOSHOP_", "OTEL_"))},
        "MONGODB_URI": uri,
        "MONGODB_DATABASE": DATABASE,
        "MONGOSHOP_DATA_DIR": workdir,
        **(extra or {}),
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
    base = f"http://127.0.0.1:{port}"
    for _ in range(240):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/health").status_code == 200:
                return app, base
        time.sleep(0.5)
    app.terminate()
    raise RuntimeError(f"serve did not start ({extra})")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_loadgen(
    base: str, paths: list[str], headers: list[str], concurrency: int, seconds: float
) -> dict[str, Any]:
    """`benchmarks.loadgen` against `base` (its own process): requests, errors, seconds."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.loadgen",
        base,
        ",".join(paths),
        "--concurrency",
        str(concurrency),
        "--seconds",
        str(seconds),
    ]
    for header in headers:
        command += ["--header", header]
    result: dict[str, Any] = json.loads(
        subprocess.run(command, capture_output=True, text=True, check=True).stdout
    )
    if result["errors"]:
        raise RuntimeError(f"{result['errors']} failed requests")
    return result


def run_raw(uri: str, kind: str, ids: list[Any], concurrency: int, seconds: float) -> float:
    """`raw_loop` in its own process: the queries done, scaled to exactly `seconds`."""
    code = (
        "import asyncio, json, sys; from benchmarks.bench_api import raw_loop; "
        "print(json.dumps(asyncio.run(raw_loop(*json.loads(sys.argv[1])))))"
    )
    payload = json.dumps([uri, kind, ids, concurrency, seconds])
    result = json.loads(
        subprocess.run(
            [sys.executable, "-c", code, payload], capture_output=True, text=True, check=True
        ).stdout
    )
    return float(result["requests"] / result["seconds"] * seconds)


def seed_bench_shop(uri: str) -> tuple[MongoClient[Document], Any, list[str]]:
    """The shop both API benchmarks load: 200 users, 2,000 products, an admin to sign in
    as. (client, the admin, the product categories)."""
    settings = Settings(mongodb_uri=uri, mongodb_database=DATABASE)  # type: ignore[call-arg]
    client: MongoClient[Document] = MongoClient(uri, tz_aware=True)
    shop = Shop(client[DATABASE], settings)
    shop.ensure_indexes()
    seed_all(shop, users=200, products=2000, orders=0, seed=3)
    user = shop.users.create_admin(email="bench@example.com", password=PASSWORD, name="Bench")
    categories = sorted(client[DATABASE].products.distinct("category"))
    return client, user, categories


def routes(
    user: Any, token: str, categories: list[str]
) -> list[tuple[str, list[str], list[Any], list[str]]]:
    """What the API benchmarks load: (kind, the paths, the ids the raw loop reads, the
    headers): one user's profile, signed in; the catalog's first page of each category."""
    return [
        ("users", [f"/users/{user.id}"], [str(user.id)], [f"Authorization: Bearer {token}"]),
        ("products", [f"/products?category={c}&page=1" for c in categories], categories, []),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cases = []
    with embedded_server() as uri, tempfile.TemporaryDirectory() as workdir:
        client, user, categories = seed_bench_shop(uri)
        app, base = start_serve(uri, workdir)
        try:
            token = httpx.post(
                f"{base}/auth/login", json={"email": "bench@example.com", "password": PASSWORD}
            ).json()["access_token"]

            def loadgen(paths: list[str], headers: list[str]) -> float:
                result = run_loadgen(base, paths, headers, args.concurrency, args.seconds)
                return float(result["requests"] / result["seconds"] * args.seconds)

            def raw(kind: str, ids: list[Any]) -> float:
                return run_raw(uri, kind, ids, args.concurrency, args.seconds)

            for kind, paths, ids, headers in routes(user, token, categories):
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
        finally:
            app.terminate()
            app.wait(30)
            client.close()
    save("api", cases)


if __name__ == "__main__":
    main()
