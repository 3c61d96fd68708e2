"""Registration: hashed passwords, case-insensitive unique e-mails, and the race."""

from __future__ import annotations

import asyncio

import pytest

from mongoshop._async.shop import AsyncShop
from mongoshop.errors import DuplicateEmail
from mongoshop.models.users import Role, UserCreate, UserStatus
from mongoshop.search import index_tokens

PASSWORD = "correct horse battery"


def signup(name: str = "Élodie Dupont", email: str = "Elodie.Dupont@Example.COM") -> UserCreate:
    return UserCreate(name=name, email=email, password=PASSWORD)


async def test_register_stores_the_password_only_as_an_argon2_hash(ashop: AsyncShop) -> None:
    user = await ashop.users.register(signup())

    stored = await ashop.database["users"].find_one({"_id": user.id})

    assert stored is not None
    assert stored["password_hash"].startswith("$argon2id$")
    assert ashop.users.hasher.verify(PASSWORD, stored["password_hash"])
    assert PASSWORD not in repr(stored)
    assert "password" not in stored


async def test_register_lower_cases_the_email(ashop: AsyncShop) -> None:
    user = await ashop.users.register(signup(email="Elodie.Dupont@Example.COM"))

    stored = await ashop.database["users"].find_one({"_id": user.id})

    assert user.email == "elodie.dupont@example.com"
    assert stored is not None
    assert stored["email"] == "elodie.dupont@example.com"


async def test_register_fills_search_tokens_from_name_and_email(ashop: AsyncShop) -> None:
    user = await ashop.users.register(signup())

    stored = await ashop.database["users"].find_one({"_id": user.id})

    assert stored is not None
    assert stored["search_tokens"] == index_tokens("Élodie Dupont", "elodie.dupont@example.com")
    assert {"elodie", "elo", "dupont", "du"} <= set(stored["search_tokens"])


async def test_register_creates_an_active_plain_user_with_no_logins(ashop: AsyncShop) -> None:
    user = await ashop.users.register(signup())

    assert user.status is UserStatus.ACTIVE
    assert user.roles == [Role.USER]
    assert user.login_count == 0
    assert user.last_login is None
    assert user.created_at.tzinfo is not None
    assert await ashop.user_repository.get(user.id) == user


@pytest.mark.parametrize(
    "second_email",
    ["elodie.dupont@example.com", "ELODIE.DUPONT@EXAMPLE.COM", "Elodie.Dupont@Example.COM"],
)
async def test_register_with_a_taken_email_in_any_case_is_duplicate_email(
    ashop: AsyncShop, second_email: str
) -> None:
    first = await ashop.users.register(signup(email="Elodie.Dupont@Example.COM"))

    with pytest.raises(DuplicateEmail):
        await ashop.users.register(signup(name="Someone Else", email=second_email))

    users = await ashop.user_repository.find_many()
    assert [user.id for user in users] == [first.id]
    assert users[0].name == "Élodie Dupont"


async def test_concurrent_registrations_of_one_email_let_exactly_one_through(
    ashop: AsyncShop,
) -> None:
    # Half of them spell the address in capitals: still the same e-mail.
    attempts = [
        ashop.users.register(
            signup(name=f"Racer {n}", email="race@example.com" if n % 2 else "RACE@Example.com")
        )
        for n in range(20)
    ]

    results = await asyncio.gather(*attempts, return_exceptions=True)

    winners = [result for result in results if not isinstance(result, BaseException)]
    losers = [result for result in results if isinstance(result, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(loser, DuplicateEmail) for loser in losers), losers
    assert await ashop.database["users"].count_documents({"email": "race@example.com"}) == 1
    assert await ashop.database["users"].count_documents({}) == 1
    stored = await ashop.user_repository.find_by_email("race@example.com")
    assert stored is not None
    assert stored.id == winners[0].id
