"""Run every benchmark in turn (each starts its own SecantusDB daemon).

python -m benchmarks.run_all          # the figures recorded in benchmarks/RESULTS.md
python -m benchmarks.run_all --quick  # smaller sizes, a smoke run in a few minutes
"""

from __future__ import annotations

import argparse
import subprocess
import sys

FULL = [
    ["benchmarks.bench_read", "--sizes", "1000", "10000", "--rounds", "7"],
    ["benchmarks.bench_write", "--users", "10000", "--products", "100000", "--rounds", "3"],
    ["benchmarks.bench_api", "--concurrency", "50", "--seconds", "10", "--rounds", "3"],
    ["benchmarks.bench_transactions", "--operations", "400", "--rounds", "3"],
    ["benchmarks.bench_growth", "--sizes", "10000", "100000", "--calls", "5"],
    ["benchmarks.bench_write_probe", "--sizes", "1000", "100000"],
    ["benchmarks.bench_flash_sale", "--pause", "60", "--import", "30000"],
    ["benchmarks.bench_burst", "--shop", "20000", "--signups", "1000", "--orders", "1000"],
    ["benchmarks.load.run", "--size", "100000", "--users", "32", "--minutes", "5"],
]
QUICK = [
    ["benchmarks.bench_read", "--sizes", "1000", "--rounds", "3"],
    ["benchmarks.bench_write", "--users", "1000", "--products", "5000", "--rounds", "1"],
    ["benchmarks.bench_api", "--concurrency", "20", "--seconds", "3", "--rounds", "1"],
    ["benchmarks.bench_transactions", "--operations", "80", "--rounds", "1"],
    ["benchmarks.bench_growth", "--sizes", "2000", "10000", "--calls", "3"],
    ["benchmarks.bench_write_probe", "--sizes", "1000", "10000", "--rounds", "2"],
    ["benchmarks.bench_flash_sale", "--pause", "5", "--import", "5000"],
    ["benchmarks.bench_burst", "--shop", "2000", "--signups", "200", "--orders", "200"],
    ["benchmarks.load.run", "--size", "2000", "--users", "8", "--minutes", "0.5"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for command in QUICK if args.quick else FULL:
        print(f"== python -m {' '.join(command)}", flush=True)
        subprocess.run([sys.executable, "-m", *command], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
