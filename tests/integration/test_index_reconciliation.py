"""Declared indexes and validators reconciled with the server's: the plan, `--apply`,
and start-up.

One database holds the four cases at once on `users`: an index of another owner, an
obsolete mongoshop index, a missing one and a changed one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pymongo import ASCENDING, MongoClient
from pymongo.errors import WriteError
from typer.testing import CliRunner

from mongoshop._sync.shop import Shop
from mongoshop.cli.main import app
from mongoshop.collection_schemas import json_schema_for
from mongoshop.models.common import Document
from mongoshop.settings import Settings
from tests.integration.helpers import cli_env

FOREIGN = "reporting_by_name"
OBSOLETE = "old_by_age"


@pytest.fixture
def drifted(shop: Shop) -> Shop:
    """`shop`'s users indexes, drifted four ways from the declared ones."""
    users = shop.database["users"]
    users.create_index([("name", ASCENDING)], name=FOREIGN)  # someone else's
    users.create_index([("age", ASCENDING)], name=OBSOLETE)  # ours, no longer declared
    shop.repositories.schema.record_owned("users", [OBSOLETE])
    users.drop_index("status")  # declared, missing
    users.drop_index("roles_newest")  # declared, changed: same name, other keys
    users.create_index([("roles", ASCENDING)], name="roles_newest")
    return shop


def declared_users_indexes(shop: Shop) -> dict[str, list[tuple[str, int]]]:
    return {
        index.document["name"]: list(index.document["key"].items())
        for index in shop.repositories.users.indexes
    }


def test_the_plan_names_all_four_cases(drifted: Shop) -> None:
    (users,) = [plan for plan in drifted.declarations.plan() if plan.collection == "users"]

    assert [spec.name for spec in users.create] == ["status"]
    assert [(old.name, old.keys, new.keys) for old, new in users.rebuild] == [
        ("roles_newest", (("roles", 1),), (("roles", 1), ("created_at", -1), ("_id", -1)))
    ]
    assert [spec.name for spec in users.drop] == [OBSOLETE]
    assert [spec.name for spec in users.foreign] == [FOREIGN]
    assert not users.conflicts


def test_start_up_creates_what_is_missing_and_only_warns_about_the_rest(
    drifted: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        drifted.ensure_indexes()

    information = drifted.database["users"].index_information()
    assert "status" in information  # created
    assert OBSOLETE in information  # not dropped
    assert FOREIGN in information
    assert information["roles_newest"]["key"] == [("roles", 1)]  # not rebuilt
    assert "mongoshop db indexes --apply" in caplog.text


def test_apply_leaves_exactly_the_declared_indexes_and_the_foreign_one(
    drifted: Shop, settings: Settings, mongodb_uri: str, tmp_path: Path
) -> None:
    env = cli_env(settings, mongodb_uri, tmp_path)
    runner = CliRunner()

    shown = runner.invoke(app, ["db", "indexes"], env=env)

    assert shown.exit_code == 0, shown.output
    assert "users: create status" in shown.output
    assert "users: rebuild roles_newest" in shown.output
    assert f"users: drop {OBSOLETE}" in shown.output
    assert f"users: leave {FOREIGN}" in shown.output
    assert "nothing changed" in shown.output
    assert OBSOLETE in drifted.database["users"].index_information()  # a plan changes nothing

    applied = runner.invoke(app, ["db", "indexes", "--apply"], env=env)

    assert applied.exit_code == 0, applied.output
    information = drifted.database["users"].index_information()
    keys = {name: spec["key"] for name, spec in information.items() if name != "_id_"}
    assert keys == {**declared_users_indexes(drifted), FOREIGN: [("name", 1)]}
    again = runner.invoke(app, ["db", "indexes"], env=env)
    assert "the indexes match the declared ones" in again.output
    assert drifted.repositories.schema.owned_indexes()["users"] == set(
        declared_users_indexes(drifted)
    )


# --- validators ----------------------------------------------------------------------


def test_every_collection_gets_the_validator_generated_from_its_model(shop: Shop) -> None:
    for repository in shop.repositories.all():
        (info,) = shop.database.list_collections(filter={"name": repository.collection_name})
        assert info["options"]["validator"] == {"$jsonSchema": json_schema_for(repository.model)}
        assert info["options"].get("validationLevel", "strict") == "strict"


def test_a_write_that_bypasses_the_application_and_breaks_the_shape_is_refused(
    shop: Shop, sync_client: MongoClient[Document]
) -> None:
    """Another service, or a shell, on the same database: the server refuses the write."""
    raw = sync_client[shop.database.name]["products"]
    valid = {
        "name": "Teapot",
        "category": "kitchen",
        "price": {"amount": 2500, "currency": "EUR"},
        "created_at": datetime.now(UTC),
        "updated_at": datetime.now(UTC),
    }
    raw.insert_one(dict(valid))  # the right shape, an unknown extra field allowed too
    raw.insert_one({**valid, "imported_by": "legacy-tool"})

    for broken in (
        {**valid, "price": "25.00 EUR"},  # a string where a Money document is due
        {k: v for k, v in valid.items() if k != "category"},  # a required field missing
        {**valid, "created_at": "2026-11-27"},  # a date as text
    ):
        with pytest.raises(WriteError) as refused:
            raw.insert_one(broken)
        assert refused.value.code == 121  # DocumentValidationFailure
        assert "failed validation" in str(refused.value)
    assert raw.count_documents({}) == 2


def test_a_changed_validator_is_planned_and_replaced_by_apply(shop: Shop) -> None:
    shop.database.command("collMod", "accounts", validator={"$jsonSchema": {"bsonType": "object"}})

    (accounts,) = [plan for plan in shop.declarations.plan() if plan.collection == "accounts"]
    assert accounts.validator == {"$jsonSchema": json_schema_for(shop.repositories.accounts.model)}
    assert "accounts: replace the validator (generated from the model)" in list(accounts.lines())
    shop.ensure_indexes()  # start-up leaves a differing validator to the operator
    (still,) = [plan for plan in shop.declarations.plan() if plan.collection == "accounts"]
    assert still.validator is not None

    shop.declarations.apply([still])

    (after,) = [plan for plan in shop.declarations.plan() if plan.collection == "accounts"]
    assert after.validator is None


def test_start_up_records_the_products_pre_images_for_the_stock_webhooks(shop: Shop) -> None:
    """The stock events compare a product before and after a change: its pre-images."""
    options = {info["name"]: info.get("options", {}) for info in shop.database.list_collections()}
    assert options["products"]["changeStreamPreAndPostImages"] == {"enabled": True}
    assert "changeStreamPreAndPostImages" not in options.get("orders", {})
    assert shop.declarations.enable_pre_images() == [], "idempotent: nothing more to enable"
    shop.database.command("collMod", "products", changeStreamPreAndPostImages={"enabled": False})
    assert shop.declarations.enable_pre_images() == ["products"]
