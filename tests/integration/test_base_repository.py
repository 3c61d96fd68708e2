"""The generic repository's CRUD, exercised through the user repository."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from mongoshop._async.repositories.users import AsyncUserRepository
from mongoshop._async.shop import AsyncShop
from mongoshop.errors import InvalidId, NotFound
from mongoshop.models.users import UserInDB, UserStatus
from tests.integration.helpers import user_document

BASE = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def repo(ashop: AsyncShop) -> AsyncUserRepository:
    return ashop.repositories.users


async def add_people(repo: AsyncUserRepository, count: int) -> list[ObjectId]:
    """`count` users, person 0 the oldest, one hour apart."""
    ids = []
    for n in range(count):
        ids.append(
            await repo.create(
                user_document(
                    f"Person {n:02d}",
                    f"person{n:02d}@example.com",
                    created_at=BASE + timedelta(hours=n),
                    login_count=n,
                )
            )
        )
    return ids


async def test_create_returns_the_new_id_and_find_by_id_reads_the_document_back(
    repo: AsyncUserRepository,
) -> None:
    new_id = await repo.create(user_document("Ada Lovelace", "ada@example.com"))

    found = await repo.find_by_id(new_id)

    assert isinstance(new_id, ObjectId)
    assert isinstance(found, UserInDB)
    assert found.id == new_id
    assert found.email == "ada@example.com"


async def test_find_by_id_accepts_the_24_hex_string_form(repo: AsyncUserRepository) -> None:
    new_id = await repo.create(user_document("Ada Lovelace", "ada@example.com"))

    found = await repo.find_by_id(str(new_id))

    assert found is not None
    assert found.id == new_id


async def test_find_by_id_of_an_unknown_id_is_none(repo: AsyncUserRepository) -> None:
    await repo.create(user_document("Ada Lovelace", "ada@example.com"))

    assert await repo.find_by_id(ObjectId()) is None


async def test_find_by_ids_reads_those_that_exist_in_one_read_by_id(
    repo: AsyncUserRepository,
) -> None:
    ada = await repo.create(user_document("Ada Lovelace", "ada@example.com"))
    bob = await repo.create(user_document("Bob Byte", "bob@example.com"))
    await repo.create(user_document("Cy Other", "cy@example.com"))

    found = await repo.find_by_ids([bob, ObjectId(), ada, bob])

    assert {id: user.email for id, user in found.items()} == {
        ada: "ada@example.com",
        bob: "bob@example.com",
    }
    assert await repo.find_by_ids([]) == {}


@pytest.mark.parametrize("bad_id", ["nope", "0" * 23, "z" * 24, "abcdefghijkl", 42, None])
async def test_find_by_id_with_a_malformed_id_is_invalid_id(
    repo: AsyncUserRepository, bad_id: object
) -> None:
    with pytest.raises(InvalidId):
        await repo.find_by_id(bad_id)  # type: ignore[arg-type]


async def test_get_of_a_missing_document_is_not_found(repo: AsyncUserRepository) -> None:
    missing = ObjectId()

    with pytest.raises(NotFound) as raised:
        await repo.get(missing)

    assert str(missing) in raised.value.detail


async def test_get_returns_the_existing_document(repo: AsyncUserRepository) -> None:
    new_id = await repo.create(user_document("Ada Lovelace", "ada@example.com"))

    assert (await repo.get(new_id)).name == "Ada Lovelace"


async def test_find_one_returns_the_match_or_none(repo: AsyncUserRepository) -> None:
    await add_people(repo, 3)

    found = await repo.find_one({"email": "person01@example.com"})

    assert found is not None
    assert found.name == "Person 01"
    assert await repo.find_one({"email": "nobody@example.com"}) is None


async def test_find_many_sorts_skips_and_limits(repo: AsyncUserRepository) -> None:
    await add_people(repo, 8)

    page = await repo.find_many({}, sort=[("created_at", -1)], skip=2, limit=3)

    assert [user.name for user in page] == ["Person 05", "Person 04", "Person 03"]


async def test_find_many_filters_before_paging(repo: AsyncUserRepository) -> None:
    await add_people(repo, 8)

    page = await repo.find_many(
        {"login_count": {"$gte": 4}}, sort=[("login_count", 1)], skip=1, limit=10
    )

    assert [user.login_count for user in page] == [5, 6, 7]


async def test_find_many_returns_at_most_the_default_limit_of_100(
    repo: AsyncUserRepository,
) -> None:
    await repo.insert_many_new(
        [user_document(f"Bulk {n}", f"bulk{n}@example.com") for n in range(105)]
    )

    assert len(await repo.find_many()) == 100
    assert len(await repo.find_many(limit=200)) == 105


async def test_find_documents_returns_only_the_projected_fields(
    repo: AsyncUserRepository,
) -> None:
    await add_people(repo, 3)

    documents = await repo.find_documents(
        {"login_count": {"$lte": 1}},
        projection={"email": 1, "_id": 0},
        sort=[("email", 1)],
    )

    assert documents == [{"email": "person00@example.com"}, {"email": "person01@example.com"}]


async def test_update_applies_to_the_first_match_and_reports_matched_count(
    repo: AsyncUserRepository,
) -> None:
    await add_people(repo, 3)

    matched = await repo.update({"email": "person02@example.com"}, {"$set": {"age": 44}})
    unmatched = await repo.update({"email": "nobody@example.com"}, {"$set": {"age": 44}})

    assert matched == 1
    assert unmatched == 0
    assert await repo.count({"age": 44}) == 1
    found = await repo.find_one({"email": "person02@example.com"})
    assert found is not None
    assert found.age == 44


async def test_update_counts_a_match_even_when_nothing_changes(
    repo: AsyncUserRepository,
) -> None:
    await add_people(repo, 1)

    matched = await repo.update({"email": "person00@example.com"}, {"$set": {"name": "Person 00"}})

    assert matched == 1


async def test_update_by_id_changes_only_that_document(repo: AsyncUserRepository) -> None:
    ids = await add_people(repo, 3)

    matched = await repo.update_by_id(str(ids[1]), {"$set": {"status": "inactive"}})

    assert matched == 1
    statuses = {user.id: user.status for user in await repo.find_many()}
    assert statuses == {
        ids[0]: UserStatus.ACTIVE,
        ids[1]: UserStatus.INACTIVE,
        ids[2]: UserStatus.ACTIVE,
    }


async def test_update_by_id_of_a_missing_id_matches_nothing(repo: AsyncUserRepository) -> None:
    assert await repo.update_by_id(ObjectId(), {"$set": {"age": 30}}) == 0


async def test_update_by_id_with_a_malformed_id_is_invalid_id(
    repo: AsyncUserRepository,
) -> None:
    with pytest.raises(InvalidId):
        await repo.update_by_id("not-an-id", {"$set": {"age": 30}})


async def test_delete_removes_one_match_and_reports_it(repo: AsyncUserRepository) -> None:
    await add_people(repo, 3)

    deleted = await repo.delete({"login_count": {"$gte": 1}})
    again = await repo.delete({"email": "nobody@example.com"})

    assert deleted == 1
    assert again == 0
    assert await repo.count() == 2


async def test_delete_by_id_removes_that_document_only(repo: AsyncUserRepository) -> None:
    ids = await add_people(repo, 3)

    assert await repo.delete_by_id(ids[0]) == 1
    assert await repo.delete_by_id(ids[0]) == 0
    assert await repo.find_by_id(ids[0]) is None
    assert await repo.count() == 2


async def test_delete_by_id_with_a_malformed_id_is_invalid_id_and_deletes_nothing(
    repo: AsyncUserRepository,
) -> None:
    await add_people(repo, 2)

    with pytest.raises(InvalidId):
        await repo.delete_by_id("123")

    assert await repo.count() == 2


async def test_count_counts_all_or_the_matching_documents(repo: AsyncUserRepository) -> None:
    assert await repo.count() == 0

    await add_people(repo, 5)

    assert await repo.count() == 5
    assert await repo.count({"login_count": {"$lt": 2}}) == 2


async def test_exists_tells_whether_any_document_matches(repo: AsyncUserRepository) -> None:
    await add_people(repo, 2)

    assert await repo.exists({"email": "person01@example.com"}) is True
    assert await repo.exists({"email": "nobody@example.com"}) is False


async def test_insert_many_new_skips_duplicates_and_inserts_the_rest(
    repo: AsyncUserRepository,
) -> None:
    await repo.create(user_document("Existing", "taken@example.com"))
    batch = [
        user_document("New One", "one@example.com"),
        user_document("Clash With Existing", "taken@example.com"),
        user_document("New Two", "two@example.com"),
        user_document("Clash Within Batch", "one@example.com"),
        user_document("New Three", "three@example.com"),
    ]

    inserted, duplicates = await repo.insert_many_new(batch)

    assert (inserted, duplicates) == (3, 2)
    emails = sorted(user.email for user in await repo.find_many())
    assert emails == [
        "one@example.com",
        "taken@example.com",
        "three@example.com",
        "two@example.com",
    ]
    existing = await repo.find_one({"email": "taken@example.com"})
    assert existing is not None
    assert existing.name == "Existing"


async def test_insert_many_new_run_twice_inserts_nothing_the_second_time(
    repo: AsyncUserRepository,
) -> None:
    batch = [user_document(f"User {n}", f"user{n}@example.com") for n in range(4)]

    first = await repo.insert_many_new(batch)
    second = await repo.insert_many_new(batch)

    assert first == (4, 0)
    assert second == (0, 4)
    assert await repo.count() == 4


async def test_insert_many_new_of_nothing_is_a_no_op(repo: AsyncUserRepository) -> None:
    assert await repo.insert_many_new([]) == (0, 0)
