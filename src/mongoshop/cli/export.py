"""`mongoshop export COLLECTION`: stream a collection out as JSON Lines or CSV."""

from __future__ import annotations

import csv
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from bson import json_util
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from mongoshop.cli.common import err_console, open_shop, settings_from_env
from mongoshop.errors import ValidationFailed
from mongoshop.models.common import Document

SECRET_FIELDS = {"users": {"password_hash"}, "webhook_subscriptions": {"secret"}}
"""Never exported, whatever --fields says, and never named by --query (a query on a
secret would tell it a character at a time: ``{"secret": {"$regex": "^whsec_a"}}``)."""
EXPORTABLE = (
    "users",
    "products",
    "orders",
    "accounts",
    "ledger",
    "transfers",
    "webhook_subscriptions",
    "webhook_deliveries",
)
"""The shop's business data. Everything else holds credentials or their traces (sign-in
tokens, verification codes and the e-mails that carry them, sign-in attempts) or the
service's own bookkeeping: an allowlist, so a new collection is not exported by default."""
QUERY_OPERATORS_REFUSED = {"$where", "$expr", "$function", "$accumulator", "$jsonSchema"}
"""They can read any field by name from inside a string or an expression."""


def parse_query(text: str | None) -> Document:
    """Extended JSON (so ``{"_id": {"$oid": "…"}}`` works); it must be an object."""
    if not text:
        return {}
    try:
        query = json_util.loads(text)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(f"--query is not valid JSON: {exc}") from None
    if not isinstance(query, dict):
        raise ValidationFailed("--query must be a JSON object")
    return query


def check_query(collection: str, query: Any) -> None:
    """Refuse a query that names a secret field (at any depth: under ``$or``, ``$not``...)
    or uses an operator that can reach fields without naming them as keys."""
    secret = SECRET_FIELDS.get(collection, set())
    if isinstance(query, list):
        for item in query:
            check_query(collection, item)
        return
    if not isinstance(query, dict):
        return
    for key, value in query.items():
        if key in QUERY_OPERATORS_REFUSED:
            raise ValidationFailed(f"--query may not use {key}")
        if not key.startswith("$") and key.split(".")[0] in secret:
            raise ValidationFailed(f"--query may not name {key}: it is never exported")
        check_query(collection, value)


def projection_for(collection: str, fields: list[str]) -> Document:
    secret = SECRET_FIELDS.get(collection, set())
    if fields:
        refused = [field for field in fields if field.split(".")[0] in secret]
        if refused:
            raise ValidationFailed(f"these fields are never exported: {', '.join(refused)}")
        return {field: 1 for field in fields}
    return {field: 0 for field in secret}


def _value_at(document: Document, path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet run a cell as a formula (OWASP "CSV injection")."""


def _csv_cell(value: Any) -> str:
    """A cell as text; text that a spreadsheet would run as a formula gets a leading ``'``.

    A product named ``=HYPERLINK("http://evil.example","Click")`` is data, not a
    formula; numbers (a negative amount) stay numbers.
    """
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        text = json_util.dumps(value, json_options=json_util.RELAXED_JSON_OPTIONS)
    elif isinstance(value, (bool, int, float)):
        return str(value)
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_documents(
    documents: Any, out: TextIO, format: str, fields: list[str], on_document: Any
) -> int:
    count = 0
    writer = None
    for document in documents:
        if format == "csv":
            if writer is None:
                columns = fields or list(document)
                writer = csv.writer(out)
                writer.writerow(columns)
            writer.writerow([_csv_cell(_value_at(document, column)) for column in columns])
        else:
            out.write(json_util.dumps(document, json_options=json_util.RELAXED_JSON_OPTIONS) + "\n")
        count += 1
        on_document()
    return count


def export(
    collection: Annotated[str, typer.Argument(help=f"One of: {', '.join(EXPORTABLE)}")],
    query: Annotated[str | None, typer.Option(help="A filter, as (extended) JSON")] = None,
    fields: Annotated[
        str | None, typer.Option(help="Comma-separated fields (dots for nested)")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default: stdout)")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Cursor batch size")] = 1000,
) -> None:
    """Stream a collection out with a projection; never loads it in memory.

    Only the shop's business data is exported (users, products, orders, accounts,
    ledger, transfers, webhook subscriptions and deliveries); password hashes and
    webhook secrets never, and a query may not name them.

    Examples:
      mongoshop export products --fields name,price.amount,category --format csv -o products.csv
      mongoshop export orders --query '{"status": "completed"}' > orders.jsonl
    """
    if format not in ("jsonl", "csv"):
        raise ValidationFailed(f"--format must be jsonl or csv, not {format!r}")
    if collection not in EXPORTABLE:
        raise ValidationFailed(
            f"{collection} cannot be exported (exportable: {', '.join(EXPORTABLE)})"
        )
    filter = parse_query(query)
    check_query(collection, filter)
    chosen = [field.strip() for field in (fields or "").split(",") if field.strip()]
    projection = projection_for(collection, chosen)
    with ExitStack() as stack:
        shop = stack.enter_context(open_shop(settings_from_env()))
        repository = shop.repository_named(collection)
        out = stack.enter_context(output.open("w", newline="")) if output else sys.stdout
        progress = stack.enter_context(
            Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}: {task.completed} documents"),
                TimeElapsedColumn(),
                console=err_console,
            )
        )
        task = progress.add_task(collection)
        documents = repository.iterate_documents(
            filter, projection=projection or None, batch_size=batch_size
        )
        count = write_documents(documents, out, format, chosen, lambda: progress.advance(task))
    err_console.print(f"exported {count} document(s) from {collection}")
