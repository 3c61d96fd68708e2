"""Reads validate every stored document fully, whoever wrote it.

Batch reads validate a whole list in one call with the collector paused and
leave the derived `search_tokens` out of the model; these tests pin down that
none of that weakens validation: a document written by hand or by an older
schema version loads when it is valid and is refused when it is malformed,
in a batch as well as alone.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from pydantic import ValidationError

from mongoshop._async.repositories.users import AsyncUserRepository
from mongoshop._async.shop import AsyncShop
from mongoshop.models.users import Role, UserStatus

WHEN = datetime(2024, 5, 1, tzinfo=UTC)


def by_hand(**overrides: Any) -> dict[str, Any]:
    """A user as an operator might insert it with mongosh: only what the model requires."""
    document: dict[str, Any] = {
        "name": "Hand Written",
        "email": "hand@example.com",
        "created_at": WHEN,
        "updated_at": WHEN,
    }
    document.update(overrides)
    return {key: value for key, value in document.items() if value is not ...}


@pytest.fixture
def repo(ashop: AsyncShop) -> AsyncUserRepository:
    return ashop.repositories.users


async def test_a_minimal_hand_written_user_loads_with_the_defaults(
    repo: AsyncUserRepository,
) -> None:
    await repo.collection.insert_one(by_hand())

    [user] = await repo.find_many({})

    assert user.status is UserStatus.ACTIVE
    assert user.roles == [Role.USER]
    assert user.preferences.language == "en"
    assert user.login_count == 0


async def test_keys_from_a_newer_version_are_ignored_at_every_level(
    repo: AsyncUserRepository,
) -> None:
    await repo.collection.insert_one(
        by_hand(
            loyalty_tier="gold",
            preferences={"language": "fr", "timezone": "Europe/Paris", "theme": "dark"},
        )
    )

    [user] = await repo.find_many({})

    assert user.preferences.language == "fr"
    assert user.preferences.timezone == "Europe/Paris"


async def test_a_stored_time_zone_this_host_does_not_know_still_loads(
    repo: AsyncUserRepository,
) -> None:
    """Time zone data differs between hosts: a user must not stop loading on one."""
    await repo.collection.insert_one(by_hand(preferences={"timezone": "Mars/Olympus"}))

    [user] = await repo.find_many({})

    assert user.preferences.timezone == "Mars/Olympus"


MALFORMED = {
    "name missing": {"name": ...},
    "name not a string": {"name": 42},
    "unknown status": {"status": "deleted"},
    "unknown role": {"roles": ["user", "root"]},
    "created_at a string": {"created_at": "yesterday"},
    "login_count a string": {"login_count": "many"},
    "bad language": {"preferences": {"language": "english"}},
    "preferences not an object": {"preferences": "fr"},
    "age not a number": {"age": "old"},
}


@pytest.mark.parametrize("overrides", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_document_is_refused_alone_and_left_out_of_a_batch(
    repo: AsyncUserRepository, overrides: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Read alone, it is an error; in a listing, the others are still listed (one bad
    document must not take a page down) and the bad one is logged by id."""
    good = [{"_id": ObjectId(), **by_hand(email=f"good{n}@example.com")} for n in range(5)]
    bad_id = ObjectId()
    # Written before the validator existed, or by a tool that bypassed it (the server
    # refuses it otherwise: tests/integration/test_index_reconciliation.py).
    await repo.collection.insert_many(
        [*good[:2], {"_id": bad_id, **by_hand(**overrides)}, *good[2:]],
        bypass_document_validation=True,
    )

    with pytest.raises(ValidationError):
        await repo.find_by_id(bad_id)
    with caplog.at_level(logging.WARNING, logger="mongoshop"):
        listed = await repo.find_many({}, limit=10)

    assert sorted(user.id for user in listed) == sorted(document["_id"] for document in good)
    assert f"users {bad_id} does not load" in caplog.text


async def test_the_collector_runs_again_after_a_batch_with_a_bad_document(
    repo: AsyncUserRepository,
) -> None:
    import gc

    await repo.collection.insert_one(by_hand(status="deleted"), bypass_document_validation=True)
    assert gc.isenabled()

    assert await repo.find_many({}) == []

    assert gc.isenabled()
