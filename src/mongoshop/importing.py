"""Importing products from JSON Lines or CSV: read, validate, write in batches.

No database here: `import_stream` feeds validated batches to whatever imports
them (the catalog service, `BatchImporter`), reading the next batch while one is
written, so memory is bounded by the batch, never the file. The command line
only opens the file, shows progress and prints the rejected lines.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal, Protocol, TextIO

from pydantic import ValidationError

from mongoshop.iterables import prefetched
from mongoshop.models.products import ImportResult, ProductCreate, UpsertField
from mongoshop.printable import printable
from mongoshop.validation import collector_paused, describe_errors

Format = Literal["jsonl", "csv"]

CSV_COLUMNS = (
    "name",
    "description",
    "category",
    "price_amount",
    "price_currency",
    "tags",
    "quantity",
    "rating",
    "review_count",
)
"""CSV header: `tags` are separated by ``;``; amounts are minor units. A column not
listed is refused, not ignored: a misspelled `quantiy` would import every product out
of stock without a word."""
REQUIRED_COLUMNS = frozenset({"name", "category", "price_amount", "price_currency"})


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str
    raw: str


@dataclass(frozen=True)
class Accepted:
    line: int
    product: ProductCreate


Parsed = Accepted | Rejected


def guess_format(name: str) -> Format:
    return "csv" if name.lower().endswith(".csv") else "jsonl"


def read_products(stream: TextIO, format: Format) -> Iterator[Parsed]:
    """Every record of `stream` as accepted (validated) or rejected (with its line and why)."""
    if format == "csv":
        yield from _validate(_csv_records(stream))
    else:
        yield from _validate(_jsonl_records(stream))


def _jsonl_records(stream: TextIO) -> Iterator[tuple[int, str, Any]]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield number, line, json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, line, Rejected(number, f"invalid JSON: {exc.msg}", line)


def _csv_records(stream: TextIO) -> Iterator[tuple[int, str, Any]]:
    reader = csv.DictReader(stream)
    columns = set(reader.fieldnames or ())
    missing = REQUIRED_COLUMNS - columns
    if missing:
        raise ValueError(f"CSV header lacks column(s): {', '.join(sorted(missing))}")
    unknown = columns - set(CSV_COLUMNS)
    if unknown:
        named = ", ".join(repr(printable(column, 40)) for column in sorted(unknown)[:5])
        raise ValueError(
            f"CSV header has unknown column(s): {named}; the columns are {', '.join(CSV_COLUMNS)}"
        )
    for row in reader:
        number = reader.line_num
        raw = ",".join(str(value) for value in row.values())
        try:
            yield number, raw, _from_csv_row(row)
        except ValueError as exc:
            yield number, raw, Rejected(number, str(exc), raw)


def _from_csv_row(row: dict[str, str | None]) -> dict[str, Any]:
    def text(key: str) -> str:
        return (row.get(key) or "").strip()

    def integer(key: str, default: int | None = None) -> int | None:
        value = text(key)
        if not value:
            return default
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{key}: {value[:30]!r} is not an integer") from None

    record: dict[str, Any] = {
        "name": text("name"),
        "description": text("description"),
        "category": text("category"),
        "price": {"amount": integer("price_amount"), "currency": text("price_currency")},
        "tags": [tag.strip() for tag in text("tags").split(";") if tag.strip()],
        "inventory": {"quantity": integer("quantity", 0)},
    }
    if text("rating") or text("review_count"):
        try:
            rating = float(text("rating") or 0)
        except ValueError:
            raise ValueError(f"rating: {text('rating')[:30]!r} is not a number") from None
        record["reviews"] = {"rating": rating, "count": integer("review_count", 0)}
    return record


def _validate(records: Iterable[tuple[int, str, Any]]) -> Iterator[Parsed]:
    for number, raw, record in records:
        if isinstance(record, Rejected):
            yield record
            continue
        if not isinstance(record, dict):
            yield Rejected(number, "a record must be a JSON object", raw)
            continue
        try:
            yield Accepted(number, ProductCreate.model_validate(record))
        except ValidationError as exc:
            yield Rejected(number, describe_errors(exc.errors(), limit=3), raw)


class BatchImporter(Protocol):
    """What writes a batch: the catalog service (either face's, as the caller has it)."""

    def import_batch(
        self, items: Sequence[tuple[int, ProductCreate]], *, upsert_on: UpsertField | None = None
    ) -> ImportResult: ...


@dataclass
class ImportSummary:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    seconds: float = 0.0


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
    importer: BatchImporter,
    text: TextIO,
    format: Format,
    *,
    batch_size: int,
    upsert_on: UpsertField | None,
    on_rejected: Callable[[int, str, str], None],
) -> ImportSummary:
    """Import every record of `text`; `on_rejected(line, reason, raw record)` for each
    line refused (by validation or by the database), in line order within a batch."""
    started = time.perf_counter()
    summary = ImportSummary()
    # Batch N+1 is read and validated while batch N is written.
    for batch in prefetched(validated_batches(text, format, batch_size)):
        summary.read += len(batch)
        refused = [
            (item.line, item.reason, item.raw) for item in batch if isinstance(item, Rejected)
        ]
        valid = [(item.line, item.product) for item in batch if isinstance(item, Accepted)]
        result = importer.import_batch(valid, upsert_on=upsert_on)
        summary.inserted += result.inserted
        summary.updated += result.updated
        refused.extend((line, reason, "") for line, reason in result.rejected)
        summary.rejected += len(refused)
        for line, reason, raw in sorted(refused):
            on_rejected(line, reason, raw)
    summary.seconds = round(time.perf_counter() - started, 2)
    return summary
