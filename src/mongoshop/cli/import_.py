"""`mongoshop import products FILE`: a streaming, validating, bulk import."""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from itertools import islice
from pathlib import Path
from typing import Annotated, BinaryIO, TextIO

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from mongoshop._sync.shop import Shop
from mongoshop.cli.common import console, open_shop, settings_from_env
from mongoshop.errors import ValidationFailed
from mongoshop.importing import Accepted, Format, Parsed, Rejected, guess_format, read_products
from mongoshop.iterables import prefetched
from mongoshop.models.products import ProductCreate, UpsertField
from mongoshop.validation import collector_paused

app = typer.Typer(help="Import data from files.", no_args_is_help=True)


def validated_batches(text: TextIO, format: Format, size: int) -> Iterator[tuple[Parsed, ...]]:
    """The records of `text` parsed and validated, `size` at a time.

    The cycle collector is paused while a batch is built (see `mongoshop.validation`):
    none of its objects can be cyclic garbage yet, and a collection triggered by
    them would walk the whole heap.
    """
    records = read_products(text, format)
    while True:
        with collector_paused():
            batch = tuple(islice(records, size))
        if not batch:
            return
        yield batch


def import_stream(
    shop: Shop,
    text: TextIO,
    format: Format,
    *,
    batch_size: int,
    upsert_on: UpsertField | None,
    rejects: TextIO | None,
) -> dict[str, float]:
    """Import every record of `text`; returns the summary figures."""
    started = time.perf_counter()
    read = inserted = updated = rejected = 0
    # Batch N+1 is read and validated while batch N is written.
    for batch in prefetched(validated_batches(text, format, batch_size)):
        read += len(batch)
        refused: list[tuple[int, str, str]] = [
            (item.line, item.reason, item.raw) for item in batch if isinstance(item, Rejected)
        ]
        valid: list[tuple[int, ProductCreate]] = [
            (item.line, item.product) for item in batch if isinstance(item, Accepted)
        ]
        result = shop.catalog.import_batch(valid, upsert_on=upsert_on)
        inserted += result.inserted
        updated += result.updated
        refused.extend((line, reason, "") for line, reason in result.rejected)
        rejected += len(refused)
        for line, reason, raw in sorted(refused):
            console.print(f"[yellow]line {line}[/yellow]: {reason}", highlight=False)
            if rejects is not None:
                rejects.write(
                    json.dumps({"line": line, "reason": reason, "record": raw.rstrip("\n")}) + "\n"
                )
    return {
        "read": read,
        "inserted": inserted,
        "updated": updated,
        "rejected": rejected,
        "seconds": round(time.perf_counter() - started, 2),
    }


@app.command("products")
def products(
    file: Annotated[str, typer.Argument(help="JSON Lines or CSV file; - for standard input")],
    format: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv (default: from the file name)")
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="Write rejected lines (JSON Lines) to this file")
    ] = None,
    upsert_on: Annotated[
        str | None,
        typer.Option(
            "--upsert-on", help="Update the product with the same value of this field (name)"
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Records per bulk write")
    ] = 1000,
) -> None:
    """Import products: validated one by one, written in unordered bulk batches.

    Rejected lines are reported with their number and reason and do not stop
    the import. Memory is bounded by the batch size, not the file.

    Examples:
      mongoshop import products catalog.jsonl --rejects rejects.jsonl
      mongoshop import products catalog.csv --upsert-on name
      cat catalog.jsonl | mongoshop import products -
    """
    chosen = format or guess_format(file)
    if chosen not in ("jsonl", "csv"):
        raise ValidationFailed(f"--format must be jsonl or csv, not {chosen!r}")
    if upsert_on not in (None, "name"):
        raise ValidationFailed(f"--upsert-on supports: name (not {upsert_on!r})")
    path = None if file == "-" else Path(file)
    if path is not None and not path.is_file():
        raise ValidationFailed(f"no such file: {file}")
    with ExitStack() as stack, open_shop(settings_from_env()) as shop:
        progress = stack.enter_context(
            Progress(
                TextColumn("[bold]products"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
            )
        )
        raw: BinaryIO
        if path is None:
            raw = sys.stdin.buffer
        else:
            raw = stack.enter_context(
                progress.wrap_file(stack.enter_context(path.open("rb")), total=path.stat().st_size)
            )
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="" if chosen == "csv" else None)
        rejects_file = stack.enter_context(rejects.open("w")) if rejects is not None else None
        try:
            summary = import_stream(
                shop,
                text,
                chosen,  # type: ignore[arg-type]
                batch_size=batch_size,
                upsert_on=upsert_on,  # type: ignore[arg-type]
                rejects=rejects_file,
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationFailed(f"cannot read {file}: {exc}") from None
    table = Table(title="import summary")
    for column in summary:
        table.add_column(column, justify="right")
    table.add_row(*(str(value) for value in summary.values()))
    console.print(table)
