"""Sign-in, bearer tokens, expiry and sign-out against the real server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient

from mongoshop._async.shop import AsyncShop
from mongoshop._sync.shop import Shop
from mongoshop.clock import utcnow
from mongoshop.errors import AccountDisabled, AuthenticationFailed
from mongoshop.models.common import Document
from mongoshop.models.users import UserCreate, UserInDB, UserStatus, UserUpdate
from mongoshop.security import PasswordHasher, new_token, token_digest
from mongoshop.settings import Settings

PASSWORD = "s3cret-passw0rd"


@pytest.fixture
async def ada(ashop: AsyncShop) -> UserInDB:
    return await ashop.users.register(
        UserCreate(name="Ada Lovelace", email="ada@example.com", password=PASSWORD)
    )


def secret_of(ashop: AsyncShop) -> str:
    return ashop.settings.token_secret.get_secret_value()


async def test_authenticate_with_the_right_password_returns_the_user(
    ashop: AsyncShop, ada: UserInDB
) -> None:
    user = await ashop.auth.authenticate("ada@example.com", PASSWORD)

    assert user.id == ada.id


async def test_authenticate_ignores_the_case_of_the_email(ashop: AsyncShop, ada: UserInDB) -> None:
    user = await ashop.auth.authenticate("ADA@Example.com", PASSWORD)

    assert user.id == ada.id


async def test_authenticate_counts_the_login_and_records_when(
    ashop: AsyncShop, ada: UserInDB
) -> None:
    before = utcnow()

    first = await ashop.auth.authenticate("ada@example.com", PASSWORD)
    second = await ashop.auth.authenticate("ada@example.com", PASSWORD)

    after = utcnow()
    assert first.login_count == 1
    assert second.login_count == 2
    stored = await ashop.repositories.users.get(ada.id)
    assert stored.login_count == 2
    assert stored.last_login is not None
    assert before <= stored.last_login <= after


async def test_unknown_email_and_wrong_password_fail_alike(ashop: AsyncShop, ada: UserInDB) -> None:
    with pytest.raises(AuthenticationFailed) as unknown:
        await ashop.auth.authenticate("nobody@example.com", PASSWORD)
    with pytest.raises(AuthenticationFailed) as wrong:
        await ashop.auth.authenticate("ada@example.com", "not-the-password")

    assert unknown.value.detail == wrong.value.detail
    assert str(unknown.value) == str(wrong.value)
    assert unknown.value.code == wrong.value.code
    stored = await ashop.repositories.users.get(ada.id)
    assert stored.login_count == 0
    assert stored.last_login is None


@pytest.mark.parametrize("status", [UserStatus.SUSPENDED, UserStatus.INACTIVE])
async def test_a_disabled_account_with_the_right_password_is_account_disabled(
    ashop: AsyncShop, ada: UserInDB, status: UserStatus
) -> None:
    await ashop.repositories.users.set_fields(ada.id, {"status": status.value})

    with pytest.raises(AccountDisabled):
        await ashop.auth.authenticate("ada@example.com", PASSWORD)

    assert (await ashop.repositories.users.get(ada.id)).login_count == 0


@pytest.mark.parametrize("status", [UserStatus.SUSPENDED, UserStatus.INACTIVE])
async def test_a_disabled_account_with_a_wrong_password_is_only_authentication_failed(
    ashop: AsyncShop, ada: UserInDB, status: UserStatus
) -> None:
    await ashop.repositories.users.set_fields(ada.id, {"status": status.value})

    with pytest.raises(AuthenticationFailed):
        await ashop.auth.authenticate("ada@example.com", "not-the-password")


async def test_login_issues_a_token_that_identifies_the_user(
    ashop: AsyncShop, ada: UserInDB
) -> None:
    issued = await ashop.auth.login("ada@example.com", PASSWORD)

    user = await ashop.auth.user_for_token(issued.access_token)

    assert user.id == ada.id
    assert issued.token_type == "bearer"
    assert issued.expires_at > utcnow() + timedelta(seconds=ashop.settings.token_ttl_seconds - 60)


async def test_each_login_issues_a_different_token(ashop: AsyncShop, ada: UserInDB) -> None:
    first = await ashop.auth.login("ada@example.com", PASSWORD)
    second = await ashop.auth.login("ada@example.com", PASSWORD)

    assert first.access_token != second.access_token
    assert (await ashop.auth.user_for_token(first.access_token)).id == ada.id
    assert (await ashop.auth.user_for_token(second.access_token)).id == ada.id


async def test_an_unknown_token_is_refused(ashop: AsyncShop, ada: UserInDB) -> None:
    await ashop.auth.login("ada@example.com", PASSWORD)

    with pytest.raises(AuthenticationFailed):
        await ashop.auth.user_for_token(new_token())


async def test_logout_revokes_that_token_only(ashop: AsyncShop, ada: UserInDB) -> None:
    kept = await ashop.auth.login("ada@example.com", PASSWORD)
    ended = await ashop.auth.login("ada@example.com", PASSWORD)

    await ashop.auth.logout(ended.access_token)

    with pytest.raises(AuthenticationFailed):
        await ashop.auth.user_for_token(ended.access_token)
    assert (await ashop.auth.user_for_token(kept.access_token)).id == ada.id


async def test_logout_of_an_unknown_token_is_not_an_error(ashop: AsyncShop) -> None:
    await ashop.auth.logout(new_token())


async def test_the_token_is_stored_only_as_a_digest(ashop: AsyncShop, ada: UserInDB) -> None:
    issued = await ashop.auth.login("ada@example.com", PASSWORD)

    stored = await ashop.database["tokens"].find().to_list()

    assert len(stored) == 1
    assert stored[0]["_id"] == token_digest(issued.access_token, secret_of(ashop))
    assert stored[0]["user_id"] == ada.id
    assert issued.access_token not in repr(stored)
    for value in stored[0].values():
        assert issued.access_token not in str(value)


async def test_an_expired_token_is_refused_before_the_ttl_monitor_removes_it(
    ashop: AsyncShop, ada: UserInDB
) -> None:
    token = new_token()
    digest = token_digest(token, secret_of(ashop))
    now = utcnow()
    await ashop.repositories.tokens.issue(
        digest, ada.id, now - timedelta(hours=2), now - timedelta(minutes=5)
    )
    # Still there: the refusal below comes from the expiry check, not from the TTL sweep.
    assert await ashop.database["tokens"].count_documents({"_id": digest}) == 1

    with pytest.raises(AuthenticationFailed):
        await ashop.auth.user_for_token(token)


async def test_find_valid_checks_expiry_against_the_time_given(ashop: AsyncShop) -> None:
    now = utcnow()
    expires = now + timedelta(hours=1)
    await ashop.repositories.tokens.issue("some-digest", ObjectId(), now, expires)

    valid_now = await ashop.repositories.tokens.find_valid("some-digest", now)
    at_expiry = await ashop.repositories.tokens.find_valid("some-digest", expires)
    after_expiry = await ashop.repositories.tokens.find_valid(
        "some-digest", expires + timedelta(seconds=1)
    )

    assert valid_now is not None
    assert valid_now.expires_at == expires
    assert at_expiry is None
    assert after_expiry is None
    # A token far from expiry cannot have been swept: the document is still stored.
    assert await ashop.database["tokens"].count_documents({"_id": "some-digest"}) == 1


async def test_a_token_of_a_user_who_was_disabled_is_refused(
    ashop: AsyncShop, ada: UserInDB
) -> None:
    issued = await ashop.auth.login("ada@example.com", PASSWORD)
    # Disabled behind the service's back: the token document is still there.
    await ashop.repositories.users.set_fields(ada.id, {"status": UserStatus.INACTIVE.value})

    with pytest.raises(AuthenticationFailed):
        await ashop.auth.user_for_token(issued.access_token)


async def test_a_token_of_a_deleted_user_is_refused(ashop: AsyncShop, ada: UserInDB) -> None:
    issued = await ashop.auth.login("ada@example.com", PASSWORD)
    await ashop.repositories.users.delete_by_id(ada.id)

    with pytest.raises(AuthenticationFailed):
        await ashop.auth.user_for_token(issued.access_token)


class ChangingHasher(PasswordHasher):
    """Verifies like the real one, then runs `during` once: a change racing the sign-in."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self._real = hasher
        self.during: Callable[[], object] | None = None

    def hash(self, password: str) -> str:
        return self._real.hash(password)

    def verify(self, password: str, password_hash: str | None) -> bool:
        valid = self._real.verify(password, password_hash)
        if self.during is not None:
            during, self.during = self.during, None
            during()
        return valid


def test_a_sign_in_racing_a_password_change_gets_no_working_token(
    sync_client: MongoClient[Document], settings: Settings, hasher: PasswordHasher
) -> None:
    """The old password is checked, then the password changes, then the login is recorded:
    the login fails instead of issuing a token that survives the change."""
    racing = ChangingHasher(hasher)
    shop = Shop(sync_client[settings.mongodb_database], settings, hasher=racing)
    shop.ensure_indexes()
    try:
        ada = shop.users.register(
            UserCreate(name="Ada Lovelace", email="ada@example.com", password=PASSWORD)
        )
        racing.during = lambda: shop.users.update(
            ada, str(ada.id), UserUpdate(password="a-new-passw0rd", current_password=PASSWORD)
        )

        with pytest.raises(AuthenticationFailed):
            shop.auth.login("ada@example.com", PASSWORD)

        assert racing.during is None  # the change did run in the middle of the sign-in
        assert shop.users.get(str(ada.id)).login_count == 0
        assert shop.auth.login("ada@example.com", "a-new-passw0rd").access_token
    finally:
        sync_client.drop_database(settings.mongodb_database)


def test_a_password_change_between_the_check_and_the_token_revokes_that_token(
    sync_client: MongoClient[Document], settings: Settings, hasher: PasswordHasher
) -> None:
    """The change lands after the login was recorded, before its token is stored: the token
    is dated from before the account was read, so the change revokes it too."""
    shop = Shop(sync_client[settings.mongodb_database], settings, hasher=hasher)
    shop.ensure_indexes()
    try:
        ada = shop.users.register(
            UserCreate(name="Ada Lovelace", email="ada@example.com", password=PASSWORD)
        )
        issue = shop.auth.tokens.issue

        def change_then_issue(*args: Any, **kwargs: Any) -> Any:
            shop.users.update(
                ada, str(ada.id), UserUpdate(password="a-new-passw0rd", current_password=PASSWORD)
            )
            return issue(*args, **kwargs)

        shop.auth.tokens.issue = change_then_issue  # type: ignore[method-assign]
        token = shop.auth.login("ada@example.com", PASSWORD).access_token
        shop.auth.tokens.issue = issue  # type: ignore[method-assign]

        with pytest.raises(AuthenticationFailed):
            shop.auth.user_for_token(token)
    finally:
        sync_client.drop_database(settings.mongodb_database)
