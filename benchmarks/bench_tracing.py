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
import os
import statistics
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

import httpx

from benchmarks.bench_api import (
    PASSWORD,
    routes,
    run_loadgen,
    run_raw,
    seed_bench_shop,
    start_serve,
)
from benchmarks.harness import Contender, embedded_server, measure, report, save


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


@contextlib.contextmanager
def everything_traced() -> Iterator[list[int]]:
    """Tracing on, every trace kept, for the servers this process starts (they inherit its
    environment) and for this process's own `configure_tracing`, exported to a sink
    here; the sizes of the exports it received."""
    with (
        otlp_sink() as (endpoint, exports),
        mock.patch.dict(
            os.environ,
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_TRACES_SAMPLER": "parentbased_always_on",
            },
        ),
    ):
        yield exports


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far, all its threads (user and system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        client, user, categories = seed_bench_shop(uri)
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
        apps = {name: start_serve(uri, workdir, extra) for name, extra in variants.items()}
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
                result = run_loadgen(base, paths, headers, args.concurrency, args.seconds)
                used = cpu_seconds(pid) - before
                cpu.setdefault((name, kind), []).append(used / result["requests"] * 1e6)
                return float(result["requests"] / result["seconds"] * args.seconds)

            def raw(kind: str, ids: list[Any]) -> float:
                return run_raw(uri, kind, ids, args.concurrency, args.seconds)

            for kind, paths, ids, headers in routes(user, token, categories):
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
