"""What every benchmark shares: its own SecantusDB daemon, alternating rounds, medians, ratios.

Each benchmark starts a fresh embedded server on a temporary directory (a
separate process, as in production), runs every contender against the same
data in the same run, alternating contenders round by round so that drift of
the machine affects all alike, and reports medians and ratios to a baseline.
Results are appended as JSON to ``benchmarks/results/`` for comparison over time.
"""

from __future__ import annotations

import contextlib
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic
import pymongo
from rich.console import Console
from rich.table import Table

from mongoshop.db import EmbeddedServer

RESULTS = Path(__file__).parent / "results"
console = Console()


@contextlib.contextmanager
def embedded_server() -> Iterator[str]:
    with (
        tempfile.TemporaryDirectory(prefix="mongoshop-bench-") as directory,
        EmbeddedServer(Path(directory)) as server,
    ):
        yield server.uri


@dataclass
class Contender:
    name: str
    run: Callable[[], float]
    """Runs once and returns the number of units done (documents, requests...)."""
    setup: Callable[[], None] | None = None
    """Untimed preparation before each run (e.g. emptying a collection)."""
    seconds: list[float] = field(default_factory=list)
    units: list[float] = field(default_factory=list)
    """Per timed round; the same every round for a fixed job, not for a fixed duration."""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rates(self) -> list[float]:
        return [
            units / seconds if seconds else 0.0
            for units, seconds in zip(self.units, self.seconds, strict=True)
        ]

    @property
    def rate(self) -> float:
        """The median of the rounds' rates."""
        return statistics.median(self.rates) if self.rates else 0.0


def measure(contenders: list[Contender], rounds: int, warmup: int = 1) -> None:
    """Alternate contenders, `rounds` times each after `warmup` untimed rounds."""
    for round_number in range(warmup + rounds):
        for contender in contenders:
            if contender.setup is not None:
                contender.setup()
            started = time.perf_counter()
            units = contender.run()
            elapsed = time.perf_counter() - started
            if round_number >= warmup:
                contender.seconds.append(elapsed)
                contender.units.append(units)


def paired_ratios(contender: Contender, base: Contender) -> list[float]:
    """Round-by-round throughput ratios to the baseline.

    Each round runs every contender back to back, so a ratio within one round
    cancels the drift of the database server between rounds (here its own
    collections and background work move timings by ±20%), which the ratio of
    two medians taken over different rounds does not.
    """
    return [
        mine / theirs if theirs else 0.0
        for mine, theirs in zip(contender.rates, base.rates, strict=True)
    ]


def report(
    benchmark: str, case: str, contenders: list[Contender], unit: str, baseline: str
) -> dict[str, Any]:
    base = next(c for c in contenders if c.name == baseline)
    table = Table(title=f"{benchmark}: {case}")
    columns = ("contender", "median s", f"{unit}/s", f"ratio to {baseline}", "paired (p25-p75)")
    for column in columns:
        table.add_column(column, justify="left" if column == "contender" else "right")
    rows = []
    for contender in contenders:
        ratio = contender.rate / base.rate if base.rate else 0.0
        paired = paired_ratios(contender, base)
        quartiles = statistics.quantiles(paired, n=4) if len(paired) > 1 else paired * 3
        table.add_row(
            contender.name,
            f"{contender.median:.4f}",
            f"{contender.rate:,.0f}",
            f"{ratio:.2f}",
            f"{statistics.median(paired):.2f} ({quartiles[0]:.2f}-{quartiles[2]:.2f})",
        )
        rows.append(
            {
                "contender": contender.name,
                "median_seconds": contender.median,
                "rate": contender.rate,
                "ratio": ratio,
                "paired_ratio": statistics.median(paired),
                "paired_ratio_quartiles": [quartiles[0], quartiles[2]],
                "rounds": len(contender.seconds),
            }
        )
    console.print(table)
    return {"benchmark": benchmark, "case": case, "unit": unit, "baseline": baseline, "rows": rows}


def save(benchmark: str, cases: list[dict[str, Any]]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"{benchmark}-{stamp}.json"
    path.write_text(
        json.dumps(
            {
                "benchmark": benchmark,
                "when": stamp,
                "python": platform.python_version(),
                "pymongo": pymongo.version,
                "pydantic": pydantic.VERSION,
                "machine": platform.machine(),
                "cases": cases,
            },
            indent=2,
        )
    )
    console.print(f"results written to {path}")
    return path
