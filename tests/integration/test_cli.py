"""The command line, run in-process with Typer's runner against the test server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from pymongo import MongoClient
from typer.testing import CliRunner

from mongoshop._sync.shop import Shop
from mongoshop.cli.main import app
from mongoshop.models.common import Document
from mongoshop.models.users import UserCreate
from mongoshop.settings import Settings
from tests.integration.helpers import cli_env

Run = Callable[..., "object"]


@pytest.fixture
def cli(settings: Settings, mongodb_uri: str, tmp_path: Path) -> Callable[..., object]:
    runner = CliRunner()
    env = {
        **cli_env(settings, mongodb_uri, tmp_path),
        "MONGOSHOP_TOKEN_SECRET": "cli-test-secret-0123456789",
    }

    def run(*args: str, input: str | None = None, extra_env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env={**env, **(extra_env or {})}, input=input)

    return run


def _product(index: int, **overrides: object) -> dict[str, object]:
    return {
        "name": f"Lamp {index}",
        "category": "home",
        "price": {"amount": 1000 + index, "currency": "EUR"},
        "tags": ["light"],
        "inventory": {"quantity": index % 7},
        **overrides,
    }


def test_import_streams_valid_lines_and_reports_each_bad_one_with_its_line(
    cli: Callable[..., object],
    shop: Shop,
    tmp_path: Path,
) -> None:
    source = tmp_path / "products.jsonl"
    bad_lines = {}
    with source.open("w") as out:
        for index in range(2000):
            line = index + 1
            if index % 100 == 3:
                bad = [
                    "not json",
                    '{"name": "x"}',
                    "[1, 2]",
                    json.dumps(_product(index, price={"amount": -5, "currency": "EUR"})),
                ][index % 4]
                bad_lines[line] = bad
                out.write(bad + "\n")
            else:
                out.write(json.dumps(_product(index)) + "\n")
    rejects = tmp_path / "rejects.jsonl"

    result = cli(
        "import", "products", str(source), "--rejects", str(rejects), "--batch-size", "300"
    )

    assert result.exit_code == 0, result.output
    assert shop.repositories.products.count() == 2000 - len(bad_lines)
    recorded = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [entry["line"] for entry in recorded] == sorted(bad_lines)
    assert all(entry["reason"] for entry in recorded)
    assert recorded[0]["record"] == bad_lines[min(bad_lines)]
    assert "2000" in result.output  # read
    assert f"line {min(bad_lines)}" in result.output
    imported = shop.repositories.products.collection.find_one({"name": "Lamp 1"})
    assert imported is not None
    assert "lamp" in imported["search_tokens"]


def test_import_csv_upserts_on_name_instead_of_duplicating(
    cli: Callable[..., object], shop: Shop, tmp_path: Path
) -> None:
    source = tmp_path / "products.csv"
    header = (
        "name,description,category,price_amount,price_currency,tags,quantity,rating,review_count\n"
    )
    source.write_text(
        header + "Mug,Blue,kitchen,1250,EUR,ceramic;gift,5,4.5,10\nPan,,kitchen,abc,EUR,,1,,\n"
    )
    first = cli("import", "products", str(source), "--upsert-on", "name")
    assert first.exit_code == 0, first.output
    source.write_text(header + "Mug,Red,kitchen,1500,EUR,ceramic,7,,\n")
    second = cli("import", "products", str(source), "--upsert-on", "name")
    assert second.exit_code == 0, second.output

    mugs = shop.repositories.products.find_many({"name": "Mug"})
    assert len(mugs) == 1
    assert mugs[0].price.amount == 1500
    assert mugs[0].description == "Red"
    assert "price_amount" in first.output or "line 3" in first.output


def test_import_reads_standard_input(cli: Callable[..., object], shop: Shop) -> None:
    lines = "\n".join(json.dumps(_product(index)) for index in range(5)) + "\n"
    result = cli("import", "products", "-", input=lines)
    assert result.exit_code == 0, result.output
    assert shop.repositories.products.count() == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("import", "products", "/nonexistent/file.jsonl"), "no such file"),
        (("export", "tokens"), "cannot be exported"),
        (("export", "nothing"), "nothing cannot be exported (exportable: users"),
        (("export", "users", "--fields", "name,password_hash"), "never exported"),
        (("export", "users", "--query", "{oops"), "not valid JSON"),
        (("stats", "sales", "--start", "2026-02-01", "--end", "2026-01-01"), "end must be after"),
    ],
)
def test_bad_arguments_fail_with_one_clear_line(
    cli: Callable[..., object], shop: Shop, args: tuple[str, ...], message: str
) -> None:
    result = cli(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "choices"),
    [
        (("import", "products", "x.jsonl", "--format", "xml"), ("jsonl", "csv")),
        (("import", "products", "x.jsonl", "--upsert-on", "price"), ("name",)),
    ],
)
def test_an_option_out_of_its_choices_is_a_usage_error_naming_them(
    cli: Callable[..., object], shop: Shop, args: tuple[str, ...], choices: tuple[str, ...]
) -> None:
    """Typer checks the choices (an Enum): exit code 2, the usage and the valid values."""
    result = cli(*args)
    assert result.exit_code == 2
    assert "Invalid value" in result.output
    assert all(choice in result.output for choice in choices)
    assert "Traceback" not in result.output
    assert shop.repositories.products.count() == 0


def test_an_unknown_option_is_a_usage_error(cli: Callable[..., object]) -> None:
    result = cli("seed", "--users", "many")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_an_unreachable_database_is_one_line_and_exit_1(cli: Callable[..., object]) -> None:
    result = cli(
        "db",
        "init",
        extra_env={
            "MONGODB_URI": "mongodb://127.0.0.1:9/?directConnection=true",
            "MONGOSHOP_SERVER_SELECTION_TIMEOUT_MS": "300",
        },
    )
    assert result.exit_code == 1
    assert "the database is unavailable" in result.output
    assert "Traceback" not in result.output


def test_export_streams_a_projection_as_csv_and_jsonl(
    cli: Callable[..., object], shop: Shop, tmp_path: Path
) -> None:
    cli("import", "products", "-", input="\n".join(json.dumps(_product(i)) for i in range(30)))
    target = tmp_path / "out.csv"
    result = cli(
        "export",
        "products",
        "--fields",
        "name,price.amount",
        "--format",
        "csv",
        "--query",
        '{"price.amount": {"$gte": 1020}}',
        "-o",
        str(target),
        "--batch-size",
        "7",
    )
    assert result.exit_code == 0, result.output
    rows = target.read_text().splitlines()
    assert rows[0] == "name,price.amount"
    assert len(rows) == 1 + 10
    assert sorted(rows[1:])[0] == "Lamp 20,1020"

    result = cli("export", "products", "--query", '{"name": "Lamp 3"}')
    documents = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [document["name"] for document in documents] == ["Lamp 3"]
    assert documents[0]["price"] == {"amount": 1003, "currency": "EUR"}


def test_export_of_users_never_contains_password_hashes(
    cli: Callable[..., object], shop: Shop, sync_client: MongoClient[Document], settings: Settings
) -> None:
    shop.users.register(UserCreate(name="Ada", email="ada@example.com", password="password1"))
    result = cli("export", "users")
    assert result.exit_code == 0, result.output
    assert "ada@example.com" in result.stdout
    assert "password_hash" not in result.stdout
    assert "argon2" not in result.stdout


def test_stats_and_db_status_print_the_figures(cli: Callable[..., object], shop: Shop) -> None:
    from mongoshop.seeding import seed_all

    seed_all(shop, users=12, products=12, orders=20, seed=3)
    users = cli("stats", "users")
    assert users.exit_code == 0, users.output
    assert "total" in users.output
    assert "12" in users.output
    products = cli("stats", "products")
    assert products.exit_code == 0, products.output
    assert "by category" in products.output
    assert "price distribution" in products.output
    sales = cli("stats", "sales", "--start", "2000-01-01")
    assert sales.exit_code == 0, sales.output
    assert "total" in sales.output
    status = cli("db", "status")
    assert status.exit_code == 0, status.output
    for collection in ("users", "products", "orders", "ledger", "mail_outbox"):
        assert collection in status.output


def test_webhook_subscriptions_from_the_command_line(
    cli: Callable[..., object], shop: Shop
) -> None:
    added = cli(
        "webhooks",
        "add",
        "https://93.184.215.14/hooks",
        "-e",
        "order.placed",
        "-e",
        "wallet.credited",
    )
    assert added.exit_code == 0, added.output
    secret = added.stdout.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    [subscription] = shop.webhooks.list_all()
    assert subscription.event_types == ["order.placed", "wallet.credited"]

    listed = cli("webhooks", "list")
    assert subscription.id in listed.stdout
    assert secret not in listed.stdout
    assert cli("webhooks", "pause", subscription.id).exit_code == 0
    assert shop.webhooks.get(subscription.id).status.value == "paused"
    resumed = cli("webhooks", "resume", subscription.id)
    assert "0 held event(s) due now" in resumed.stdout
    deliveries = cli("webhooks", "deliveries", subscription.id, "--status", "dead")
    assert deliveries.exit_code == 0, deliveries.output

    exported = cli("export", "webhook_subscriptions")
    assert exported.exit_code == 0, exported.output
    assert subscription.id in exported.stdout
    assert secret not in exported.stdout
    refused = cli("export", "webhook_subscriptions", "--fields", "url,secret")
    assert refused.exit_code == 1
    assert "never exported" in refused.output

    assert cli("webhooks", "remove", subscription.id, "--yes").exit_code == 0
    assert shop.webhooks.list_all() == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("webhooks", "add", "https://10.0.0.1/x", "-e", "order.placed"), 1, "private address"),
        (("webhooks", "add", "http://93.184.215.14/x", "-e", "order.placed"), 0, ""),
        (("webhooks", "add", "https://93.184.215.14/x", "-e", "order.shipped"), 2, "order.shipped"),
        (("webhooks", "redrive"), 1, "name one dead delivery"),
        (("webhooks", "redrive", "evt_x.y"), 1, "not found"),
        (("webhooks", "pause", "0123456789abcdef01234567"), 1, "not found"),
    ],
)
def test_webhook_commands_refuse_bad_input_in_one_line(
    cli: Callable[..., object], args: tuple[str, ...], code: int, message: str
) -> None:
    result = cli(*args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_seeded_users_get_no_welcome_unless_asked(cli: Callable[..., object], shop: Shop) -> None:
    quiet = cli("seed", "--users", "3", "--products", "0", "--orders", "0", "--seed", "4")
    assert quiet.exit_code == 0, quiet.output
    assert shop.repositories.users.count({"welcome": False}) == 3
    loud = cli(
        "seed", "--users", "2", "--products", "0", "--orders", "0", "--seed", "5", "--welcome"
    )
    assert loud.exit_code == 0, loud.output
    assert shop.repositories.users.count({"welcome": True}) == 2


@pytest.mark.parametrize(
    "collection",
    ["mail_outbox", "email_verifications", "login_attempts", "tokens", "checkpoints", "nope"],
)
def test_only_business_collections_are_exported(
    cli: Callable[..., object], collection: str
) -> None:
    """The outbox holds every verification code that was mailed; the others, sign-in
    traces and bookkeeping: an allowlist, not a list of exceptions (issue 21)."""
    result = cli("export", collection)
    assert result.exit_code == 1
    assert "cannot be exported" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "query",
    [
        '{"secret": {"$regex": "^whsec_a"}}',
        '{"$or": [{"url": "x"}, {"secret.0": "w"}]}',
        '{"url": {"$exists": true}, "$where": "this.secret[0] == \'w\'"}',
        '{"$expr": {"$eq": [{"$substrCP": ["$secret", 0, 1]}, "w"]}}',
    ],
)
def test_a_query_cannot_test_a_webhook_secret(cli: Callable[..., object], query: str) -> None:
    result = cli("export", "webhook_subscriptions", "--query", query)
    assert result.exit_code == 1
    assert "--query may not" in result.output
    assert "Traceback" not in result.output
