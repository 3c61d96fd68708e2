"""A small HTTP/1.1 keep-alive load generator, run as its own process.

It keeps `concurrency` connections busy with GET requests for `seconds` and
prints one JSON line: requests, errors, seconds. Hand-rolled on asyncio
streams so the client costs little CPU next to the server under test.

    python -m benchmarks.loadgen URL PATH[,PATH...] --concurrency 50 --seconds 10 [--header H]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from urllib.parse import urlsplit


async def worker(
    host: str, port: int, requests: list[bytes], deadline: float, counts: dict[str, int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for request in itertools.cycle(requests):
            if time.perf_counter() >= deadline:
                return
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            counts["ok" if status == 200 else "errors"] += 1
    finally:
        writer.close()


async def run(
    url: str, paths: list[str], headers: list[str], concurrency: int, seconds: float
) -> dict[str, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    extra = "".join(f"{header}\r\n" for header in headers)
    requests = [f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode() for path in paths]
    counts = {"ok": 0, "errors": 0}
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            worker(
                host,
                port,
                requests[i % len(requests) :] + requests[: i % len(requests)],
                deadline,
                counts,
            )
            for i in range(concurrency)
        )
    )
    return {
        "requests": counts["ok"],
        "errors": counts["errors"],
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("paths")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    result = asyncio.run(
        run(args.url, args.paths.split(","), args.header, args.concurrency, args.seconds)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
