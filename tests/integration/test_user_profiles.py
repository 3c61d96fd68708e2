"""Profile updates, suspension and bulk status changes."""

from __future__ import annotations

import pytest
from bson import ObjectId

from mongoshop._async.shop import AsyncShop
from mongoshop.errors import (
    AuthenticationFailed,
    InvalidId,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
)
from mongoshop.models.users import (
    Role,
    UserCreate,
    UserInDB,
    UserPreferences,
    UserStatus,
    UserUpdate,
)
from mongoshop.search import index_tokens

PASSWORD = "first-password"


async def register(ashop: AsyncShop, name: str, email: str) -> UserInDB:
    return await ashop.users.register(UserCreate(name=name, email=email, password=PASSWORD))


@pytest.fixture
async def ada(ashop: AsyncShop) -> UserInDB:
    return await register(ashop, "Ada Lovelace", "ada@example.com")


@pytest.fixture
async def grace(ashop: AsyncShop) -> UserInDB:
    return await register(ashop, "Grace Hopper", "grace@example.com")


@pytest.fixture
async def admin(ashop: AsyncShop) -> UserInDB:
    return await ashop.users.create_admin(email="root@example.com", password="admin-password")


async def test_an_update_that_changes_nothing_succeeds_and_returns_the_user(
    ashop: AsyncShop, ada: UserInDB
) -> None:
    result = await ashop.users.update(ada, str(ada.id), UserUpdate())

    assert result == ada
    assert await ashop.repositories.users.get(ada.id) == ada


async def test_an_update_to_the_current_values_succeeds(ashop: AsyncShop, ada: UserInDB) -> None:
    result = await ashop.users.update(ada, str(ada.id), UserUpdate(name=ada.name))

    assert result.id == ada.id
    assert result.name == ada.name
    stored = await ashop.repositories.users.collection.find_one({"_id": ada.id})
    assert stored is not None
    assert stored["search_tokens"] == index_tokens(ada.name, ada.email)


async def test_an_update_changes_the_fields_sent_and_leaves_the_others(
    ashop: AsyncShop, ada: UserInDB
) -> None:
    changes = UserUpdate(age=36, preferences=UserPreferences(language="fr", timezone="UTC"))

    result = await ashop.users.update(ada, str(ada.id), changes)

    stored = await ashop.repositories.users.get(ada.id)
    assert stored == result
    assert stored.age == 36
    assert stored.preferences.language == "fr"
    assert stored.name == "Ada Lovelace"
    assert stored.email == "ada@example.com"
    assert stored.updated_at >= ada.updated_at


async def test_a_name_change_refreshes_the_search_tokens(ashop: AsyncShop, ada: UserInDB) -> None:
    result = await ashop.users.update(ada, str(ada.id), UserUpdate(name="Augusta King"))

    stored = await ashop.repositories.users.collection.find_one({"_id": ada.id})
    assert stored is not None
    assert result.name == stored["name"] == "Augusta King"
    assert stored["search_tokens"] == index_tokens("Augusta King", "ada@example.com")
    assert "lovelace" not in stored["search_tokens"]
    assert [user.id for user in await ashop.users.search("augusta")] == [ada.id]
    assert await ashop.users.search("lovelace") == []


@pytest.mark.parametrize(
    "changes",
    [UserUpdate(status=UserStatus.SUSPENDED), UserUpdate(roles=[Role.USER, Role.ADMIN])],
    ids=["status", "roles"],
)
async def test_a_non_admin_changing_status_or_roles_is_permission_denied(
    ashop: AsyncShop, ada: UserInDB, changes: UserUpdate
) -> None:
    with pytest.raises(PermissionDenied):
        await ashop.users.update(ada, str(ada.id), changes)

    assert await ashop.repositories.users.get(ada.id) == ada


async def test_an_admin_deactivating_a_user_changes_status_and_roles_and_ends_sessions(
    ashop: AsyncShop, ada: UserInDB, admin: UserInDB
) -> None:
    issued = await ashop.auth.login("ada@example.com", PASSWORD)

    result = await ashop.users.update(
        admin, str(ada.id), UserUpdate(status=UserStatus.INACTIVE, roles=[Role.ADMIN, Role.USER])
    )

    stored = await ashop.repositories.users.get(ada.id)
    assert result == stored
    assert stored.status is UserStatus.INACTIVE
    assert stored.roles == [Role.ADMIN, Role.USER]
    assert await ashop.database["tokens"].count_documents({"user_id": ada.id}) == 0
    with pytest.raises(AuthenticationFailed):
        await ashop.auth.user_for_token(issued.access_token)


async def test_a_non_admin_updating_another_user_is_not_found(
    ashop: AsyncShop, ada: UserInDB, grace: UserInDB
) -> None:
    with pytest.raises(NotFound):
        await ashop.users.update(ada, str(grace.id), UserUpdate(name="Hacked"))

    assert (await ashop.repositories.users.get(grace.id)).name == "Grace Hopper"


async def test_an_admin_updating_a_missing_user_is_not_found(
    ashop: AsyncShop, admin: UserInDB
) -> None:
    with pytest.raises(NotFound):
        await ashop.users.update(admin, str(ObjectId()), UserUpdate(name="Nobody"))


async def test_an_update_with_a_malformed_id_is_invalid_id(
    ashop: AsyncShop, admin: UserInDB
) -> None:
    with pytest.raises(InvalidId):
        await ashop.users.update(admin, "not-an-id", UserUpdate(name="Nobody"))


async def test_get_visible_to_hides_other_users_from_a_non_admin(
    ashop: AsyncShop, ada: UserInDB, grace: UserInDB, admin: UserInDB
) -> None:
    assert (await ashop.users.get_visible_to(ada, str(ada.id))).id == ada.id
    assert (await ashop.users.get_visible_to(admin, str(grace.id))).id == grace.id
    with pytest.raises(NotFound):
        await ashop.users.get_visible_to(ada, str(grace.id))


async def test_a_password_change_revokes_every_token_and_replaces_the_password(
    ashop: AsyncShop, ada: UserInDB, grace: UserInDB
) -> None:
    first = await ashop.auth.login("ada@example.com", PASSWORD)
    second = await ashop.auth.login("ada@example.com", PASSWORD)
    other = await ashop.auth.login("grace@example.com", PASSWORD)

    await ashop.users.update(
        ada, str(ada.id), UserUpdate(password="second-password", current_password=PASSWORD)
    )

    for issued in (first, second):
        with pytest.raises(AuthenticationFailed):
            await ashop.auth.user_for_token(issued.access_token)
    assert (await ashop.auth.user_for_token(other.access_token)).id == grace.id
    with pytest.raises(AuthenticationFailed):
        await ashop.auth.authenticate("ada@example.com", PASSWORD)
    assert (await ashop.auth.authenticate("ada@example.com", "second-password")).id == ada.id


async def test_a_profile_change_without_a_password_keeps_the_tokens(
    ashop: AsyncShop, ada: UserInDB
) -> None:
    issued = await ashop.auth.login("ada@example.com", PASSWORD)

    await ashop.users.update(ada, str(ada.id), UserUpdate(age=40))

    assert (await ashop.auth.user_for_token(issued.access_token)).id == ada.id


async def test_suspend_disables_the_account_and_revokes_its_tokens(
    ashop: AsyncShop, ada: UserInDB, grace: UserInDB
) -> None:
    issued = await ashop.auth.login("ada@example.com", PASSWORD)
    other = await ashop.auth.login("grace@example.com", PASSWORD)

    suspended = await ashop.users.suspend(str(ada.id))

    assert suspended.status is UserStatus.SUSPENDED
    assert (await ashop.repositories.users.get(ada.id)).status is UserStatus.SUSPENDED
    assert await ashop.database["tokens"].count_documents({"user_id": ada.id}) == 0
    with pytest.raises(AuthenticationFailed):
        await ashop.auth.user_for_token(issued.access_token)
    assert (await ashop.auth.user_for_token(other.access_token)).id == grace.id


async def test_suspend_of_a_missing_user_is_not_found(ashop: AsyncShop) -> None:
    with pytest.raises(NotFound):
        await ashop.users.suspend(str(ObjectId()))


async def test_bulk_update_status_returns_how_many_actually_changed(
    ashop: AsyncShop, ada: UserInDB, grace: UserInDB
) -> None:
    linus = await register(ashop, "Linus Torvalds", "linus@example.com")
    await ashop.repositories.users.set_fields(grace.id, {"status": UserStatus.INACTIVE.value})

    changed = await ashop.users.bulk_update_status(
        [str(ada.id), str(grace.id), str(ObjectId())], UserStatus.INACTIVE
    )
    again = await ashop.users.bulk_update_status([str(ada.id)], UserStatus.INACTIVE)

    assert changed == 1  # ada; grace already was, the third id names nobody
    assert again == 0
    statuses = {user.id: user.status for user in await ashop.repositories.users.find_many()}
    assert statuses == {
        ada.id: UserStatus.INACTIVE,
        grace.id: UserStatus.INACTIVE,
        linus.id: UserStatus.ACTIVE,
    }


async def test_bulk_update_status_with_a_malformed_id_changes_nothing(
    ashop: AsyncShop, ada: UserInDB, grace: UserInDB
) -> None:
    with pytest.raises(InvalidId):
        await ashop.users.bulk_update_status(
            [str(ada.id), "not-an-id", str(grace.id)], UserStatus.SUSPENDED
        )

    for user in await ashop.repositories.users.find_many():
        assert user.status is UserStatus.ACTIVE
        assert user.updated_at in (ada.updated_at, grace.updated_at)


async def test_changing_ones_password_needs_the_current_one(
    ashop: AsyncShop, ada: UserInDB
) -> None:
    issued = await ashop.auth.login("ada@example.com", PASSWORD)

    with pytest.raises(PermissionDenied, match="current_password is required"):
        await ashop.users.update(ada, str(ada.id), UserUpdate(password="second-password"))
    with pytest.raises(PermissionDenied, match="current password is wrong"):
        await ashop.users.update(
            ada, str(ada.id), UserUpdate(password="second-password", current_password="guess-1234")
        )
    # `current_password` alone is a no-op, not an error.
    await ashop.users.update(ada, str(ada.id), UserUpdate(current_password=PASSWORD))

    # Nothing changed: the old password and the session still work.
    assert (await ashop.auth.authenticate("ada@example.com", PASSWORD)).id == ada.id
    assert (await ashop.auth.user_for_token(issued.access_token)).id == ada.id


async def test_guessing_the_current_password_is_throttled_like_a_sign_in(
    ashop: AsyncShop, ada: UserInDB
) -> None:
    """A session is not a faster oracle than the sign-in form (issue 21: 40 wrong guesses,
    all 403, never 429): wrong `current_password`s count as failed sign-ins."""
    limit = ashop.settings.login_max_failures
    for n in range(limit):
        with pytest.raises(PermissionDenied):
            await ashop.users.update(
                ada, str(ada.id), UserUpdate(password="second-password", current_password=f"g{n}")
            )
    with pytest.raises(TooManyAttempts):
        await ashop.users.update(
            ada, str(ada.id), UserUpdate(password="second-password", current_password=PASSWORD)
        )
    with pytest.raises(TooManyAttempts):  # the same account's sign-in waits too
        await ashop.auth.login("ada@example.com", PASSWORD)


async def test_an_admin_resets_a_password_separately_and_signs_the_user_out(
    ashop: AsyncShop, ada: UserInDB
) -> None:
    admin = await ashop.users.create_admin(email="root@example.com", password="admin-password")
    issued = await ashop.auth.login("ada@example.com", PASSWORD)

    with pytest.raises(PermissionDenied, match="password-reset"):
        await ashop.users.update(
            admin, str(ada.id), UserUpdate(password="set-by-admin", current_password="x" * 8)
        )
    await ashop.users.reset_password(str(ada.id), "set-by-admin-1")

    with pytest.raises(AuthenticationFailed):
        await ashop.auth.user_for_token(issued.access_token)
    assert (await ashop.auth.authenticate("ada@example.com", "set-by-admin-1")).id == ada.id


async def test_a_partial_preferences_update_keeps_the_other_preferences(
    ashop: AsyncShop, ada: UserInDB
) -> None:
    await ashop.users.update(
        ada,
        str(ada.id),
        UserUpdate.model_validate(
            {"preferences": {"language": "en", "timezone": "Europe/Paris", "notifications": False}}
        ),
    )

    updated = await ashop.users.update(
        ada, str(ada.id), UserUpdate.model_validate({"preferences": {"language": "fr"}})
    )

    assert updated.preferences.model_dump() == {
        "language": "fr",
        "timezone": "Europe/Paris",
        "notifications": False,
    }
