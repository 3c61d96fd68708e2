"""Tracing's cost: the API benchmark with tracing off, on at 10%, and on at 100%.

Three `mongoshop serve --no-worker` processes on one embedded server and one
seeded shop, started together, loaded in turn round after round (so the drift of
the server between rounds cancels out of the paired ratios): tracing off (no
``OTEL_*`` variable), on with ``OTEL_TRACES_SAMPLER=parentbased_traceidratio`` at
0.1, and on at 1.0; the last two export over OTLP/HTTP to a sink in this process
that answers 200 to every batch (a collector's reception, without its cost). The
raw `AsyncMongoClient` loop of `bench_api` is the baseline, as in bench_api.

With ``--before PATH`` (a checkout's ``src`` directory, for example of the
commit before tracing), a fourth server runs that code with tracing off: "off
costs nothing" is then measured, not assumed.

Targets (issue 24): off within noise of before; on at 10% within 10% of off.

    python -m benchmarks.bench_tracing [--concurrency 50] [--seconds 8] [--rounds 5]
        [--before /path/to/old/src]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

from benchmarks.bench_api import DATABASE, PASSWORD
from benchmarks.harness import Contender, embedded_server, measure, report, save
from mongoshop._sync.shop import Shop
from mongoshop.models.common import Document
from mongoshop.seeding import seed_all
from mongoshop.settings import Settings


@contextlib.contextmanager
def otlp_sink() -> Iterator[tuple[str, list[int]]]:
    """An OTLP/HTTP endpoint that takes every export and keeps only its size."""
    sizes: list[int] = []

    class Sink(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            sizes.append(len(self.rfile.read(int(self.headers.get("Content-Length", "0")))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", sizes
    finally:
        server.shutdown()
        server.server_close()


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far, all its threads (user and system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_app(uri: str, workdir: str, extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MONGOSHOP_", "OTEL_"))},
        "MONGODB_URI": uri,
        "MONGODB_DATABASE": DATABASE,
        "MONGOSHOP_DATA_DIR": workdir,
        **extra,
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
    raise RuntimeError(f"serve did not start with {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", help="a checkout's src directory: its code, tracing off")
    parser.add_argument(
        "--variants",
        default="off,10,100",
        help="which servers, comma-separated: off, 10 (tracing at 10%%), 100",
    )
    args = parser.parse_args()
    cases = []
    with (
        embedded_server() as uri,
        tempfile.TemporaryDirectory() as workdir,
        otlp_sink() as (endpoint, exports),
    ):
        settings = Settings(mongodb_uri=uri, mongodb_database=DATABASE)  # type: ignore[call-arg]
        client: MongoClient[Document] = MongoClient(uri, tz_aware=True)
        shop = Shop(client[DATABASE], settings)
        shop.ensure_indexes()
        seed_all(shop, users=200, products=2000, orders=0, seed=3)
        user = shop.users.create_admin(email="bench@example.com", password=PASSWORD, name="Bench")
        categories = sorted(client[DATABASE].products.distinct("category"))
        traced = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
        known = {
            "off": ("tracing off", {}),
            "10": (
                "tracing on, 10%",
                {
                    **traced,
                    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                    "OTEL_TRACES_SAMPLER_ARG": "0.1",
                },
            ),
            "100": (
                "tracing on, 100%",
                {**traced, "OTEL_TRACES_SAMPLER": "parentbased_always_on"},
            ),
        }
        chosen = {"off", *args.variants.split(",")}
        variants = {name: extra for key, (name, extra) in known.items() if key in chosen}
        if args.before:
            variants = {"before tracing (off)": {"PYTHONPATH": args.before}, **variants}
        apps = {name: start_app(uri, workdir, extra) for name, extra in variants.items()}
        try:
            token = httpx.post(
                f"{apps['tracing off'][1]}/auth/login",
                json={"email": "bench@example.com", "password": PASSWORD},
            ).json()["access_token"]

            cpu: dict[tuple[str, str], list[float]] = {}
            """(server, route kind) → the server's CPU µs per request, round by round."""

            def loadgen(
                name: str, kind: str, base: str, paths: list[str], headers: list[str]
            ) -> float:
                pid = apps[name][0].pid
                before = cpu_seconds(pid)
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
                used = cpu_seconds(pid) - before
                cpu.setdefault((name, kind), []).append(used / result["requests"] * 1e6)
                return float(result["requests"] / result["seconds"] * args.seconds)

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
                return float(result["requests"] / result["seconds"] * args.seconds)

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
                    Contender(f"raw AsyncMongoClient ({kind})", lambda k=kind, i=ids: raw(k, i))
                ] + [
                    Contender(
                        f"API, {name} ({kind})",
                        lambda n=name, k=kind, b=base, p=paths, h=headers: loadgen(n, k, b, p, h),
                    )
                    for name, (_, base) in apps.items()
                ]
                measure(contenders, rounds=args.rounds, warmup=1)
                for contender in contenders:  # rates per second, not per run
                    contender.seconds = [args.seconds for _ in contender.seconds]
                cases.append(
                    report(
                        "tracing",
                        f"{kind} at concurrency {args.concurrency}, against tracing off",
                        contenders,
                        "req",
                        f"API, tracing off ({kind})",
                    )
                )
            # The server's own CPU per request: what tracing adds to each request, whatever
            # the rest of the machine (the database, the load generator) was doing.
            warm = slice(1, None)  # the warm-up round
            for (name, kind), values in sorted(cpu.items(), key=lambda item: item[0][1]):
                base_values = cpu[("tracing off", kind)][warm]
                mine = statistics.median(values[warm])
                ratio = mine / statistics.median(base_values)
                print(f"CPU per request, {kind}, {name}: {mine:,.0f} µs ({ratio:.2f} of off)")
                cases.append(
                    {
                        "benchmark": "tracing",
                        "case": f"CPU per request, {kind}",
                        "contender": name,
                        "cpu_us_per_request": values[warm],
                        "median": mine,
                        "ratio_to_off": ratio,
                    }
                )
            print(f"{len(exports)} OTLP exports received, {sum(exports):,} bytes")
        finally:
            for app, _ in apps.values():
                app.terminate()
                app.wait(30)
            client.close()
    save("tracing", cases)


if __name__ == "__main__":
    main()
