"""`mongoshop import products FILE`: a streaming, validating, bulk import."""

from __future__ import annotations

import io
import json
import sys
from contextlib import ExitStack
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, BinaryIO

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

from mongoshop.cli.common import console, open_shop, settings_from_env
from mongoshop.errors import ValidationFailed
from mongoshop.importing import Format, guess_format, import_stream

app = typer.Typer(help="Import data from files.", no_args_is_help=True)


class FileFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


class MatchField(StrEnum):
    name = "name"


@app.command("products")
def products(
    file: Annotated[str, typer.Argument(help="JSON Lines or CSV file; - for standard input")],
    format: Annotated[
        FileFormat | None, typer.Option("--format", help="Default: from the file name")
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="Write rejected lines (JSON Lines) to this file")
    ] = None,
    upsert_on: Annotated[
        MatchField | None,
        typer.Option("--upsert-on", help="Update the product with the same value of this field"),
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
    chosen: Format = (
        "csv" if format is FileFormat.csv else "jsonl" if format else guess_format(file)
    )
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

        def report(line: int, reason: str, raw: str) -> None:
            console.print(f"[yellow]line {line}[/yellow]: {reason}", highlight=False)
            if rejects_file is not None:
                record = {"line": line, "reason": reason, "record": raw.rstrip("\n")}
                rejects_file.write(json.dumps(record) + "\n")

        try:
            summary = import_stream(
                shop.catalog,
                text,
                chosen,
                batch_size=batch_size,
                upsert_on=None if upsert_on is None else "name",
                on_rejected=report,
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationFailed(f"cannot read {file}: {exc}") from None
    table = Table(title="import summary")
    figures = asdict(summary)
    for column in figures:
        table.add_column(column, justify="right")
    table.add_row(*(str(value) for value in figures.values()))
    console.print(table)
