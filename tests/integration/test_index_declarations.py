"""The declared indexes exist, as declared, once each: what the query-plan walk
(`test_query_plans.py`) relies on. That walk is the one place that checks which index
each query reads; this module checks the declarations themselves."""

from __future__ import annotations

from typing import Any

import pytest

from mongoshop._async.shop import AsyncShop


def index_with_key(information: dict[str, Any], *key: tuple[str, int]) -> dict[str, Any]:
    matches = [spec for spec in information.values() if spec["key"] == list(key)]
    assert len(matches) == 1, f"no single index on {key}: {information}"
    return matches[0]


async def test_every_declared_index_exists_with_its_keys(ashop: AsyncShop) -> None:
    for repository in ashop.repositories.all():
        information = await repository.collection.index_information()
        for index in repository.indexes:
            name = index.document["name"]
            assert name in information, (repository.collection_name, name)
            assert information[name]["key"] == list(index.document["key"].items()), name
            for option in ("unique", "expireAfterSeconds"):
                assert information[name].get(option) == index.document.get(option), (name, option)


async def test_ensure_indexes_is_idempotent(ashop: AsyncShop) -> None:
    names = [repository.collection_name for repository in ashop.repositories.all()]
    before = {name: await ashop.database[name].index_information() for name in names}

    again = await ashop.ensure_indexes()

    after = {name: await ashop.database[name].index_information() for name in names}
    assert after == before
    for repository in ashop.repositories.all():
        declared = sorted(index.document["name"] for index in repository.indexes)
        assert sorted(again[repository.collection_name]) == declared


async def test_the_email_index_is_unique(ashop: AsyncShop) -> None:
    information = await ashop.database["users"].index_information()

    assert index_with_key(information, ("email", 1)).get("unique") is True


@pytest.mark.parametrize("collection", ["tokens", "email_verifications"])
async def test_short_lived_documents_expire_by_a_ttl_index_at_their_expiry(
    ashop: AsyncShop, collection: str
) -> None:
    information = await ashop.database[collection].index_information()

    assert index_with_key(information, ("expires_at", 1))["expireAfterSeconds"] == 0
