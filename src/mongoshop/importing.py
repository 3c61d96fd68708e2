"""Reading product records from JSON Lines or CSV, one at a time, validated.

No I/O to the database here: the import command feeds these records to the
catalog service in batches, so memory is bounded by the batch, never the file.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from pydantic import ValidationError

from mongoshop.models.products import ProductCreate

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
"""CSV header: `tags` are separated by ``;``; amounts are minor units."""


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
    missing = {"name", "category", "price_amount", "price_currency"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"CSV header lacks column(s): {', '.join(sorted(missing))}")
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
            yield Rejected(number, _first_errors(exc), raw)


def _first_errors(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        location = ".".join(str(part) for part in error["loc"])
        message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts)
