"""The generated sync face (CLI and batch jobs) behaves like the async one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mongoshop._sync.shop import Shop
from mongoshop.errors import AccountDisabled, AuthenticationFailed, DuplicateEmail, InvalidId
from mongoshop.models.common import PageRequest
from mongoshop.models.users import Role, UserCreate, UserFilter, UserStatus, UserUpdate

ROOT = Path(__file__).resolve().parents[2]


def test_the_sync_face_is_generated_from_the_current_async_source() -> None:
    result = subprocess.run(
        [sys.executable, "tools/gen_sync.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_sync_register_then_duplicate_email_in_other_case_is_refused(shop: Shop) -> None:
    user = shop.users.register(
        UserCreate(name="Ada Lovelace", email="Ada@Example.com", password="password-1")
    )

    with pytest.raises(DuplicateEmail):
        shop.users.register(
            UserCreate(name="Ada Again", email="ADA@example.COM", password="password-2")
        )

    assert user.email == "ada@example.com"
    assert shop.repositories.users.count() == 1
    stored = shop.repositories.users.get(str(user.id))
    assert stored.password_hash is not None
    assert stored.password_hash.startswith("$argon2id$")


def test_sync_login_token_round_trip_and_logout(shop: Shop) -> None:
    user = shop.users.register(
        UserCreate(name="Ada Lovelace", email="ada@example.com", password="password-1")
    )
    with pytest.raises(AuthenticationFailed):
        shop.auth.login("ada@example.com", "wrong-password")

    issued = shop.auth.login("ada@example.com", "password-1")

    assert shop.auth.user_for_token(issued.access_token).id == user.id
    assert shop.repositories.users.get(user.id).login_count == 1
    shop.auth.logout(issued.access_token)
    with pytest.raises(AuthenticationFailed):
        shop.auth.user_for_token(issued.access_token)


def test_sync_suspend_revokes_tokens_and_blocks_sign_in(shop: Shop) -> None:
    user = shop.users.register(
        UserCreate(name="Ada Lovelace", email="ada@example.com", password="password-1")
    )
    issued = shop.auth.login("ada@example.com", "password-1")

    shop.users.suspend(str(user.id))

    with pytest.raises(AuthenticationFailed):
        shop.auth.user_for_token(issued.access_token)
    with pytest.raises(AccountDisabled):
        shop.auth.authenticate("ada@example.com", "password-1")


def test_sync_update_search_list_and_statistics(shop: Shop) -> None:
    ada = shop.users.register(
        UserCreate(name="Ada Lovelace", email="ada@example.com", password="password-1")
    )
    shop.users.register(
        UserCreate(name="Grace Hopper", email="grace@example.com", password="password-1")
    )
    admin = shop.users.create_admin(email="root@example.com", password="admin-password")

    renamed = shop.users.update(ada, str(ada.id), UserUpdate(name="Élodie Lovelace"))
    changed = shop.users.bulk_update_status([str(ada.id)], UserStatus.INACTIVE)

    assert renamed.name == "Élodie Lovelace"
    assert [user.id for user in shop.users.search("elo")] == [ada.id]
    assert changed == 1
    page = shop.users.list_page(UserFilter(status=UserStatus.ACTIVE), PageRequest(page_size=1))
    assert (page.total, page.total_pages, len(page.items)) == (2, 2, 1)
    assert [user.id for user in shop.users.find_by_role(Role.ADMIN)] == [admin.id]
    stats = shop.analytics.user_dashboard(fresh=True)
    assert stats.total == 3
    assert stats.by_status[UserStatus.INACTIVE] == 1
    assert stats.signups_this_month == 3


def test_sync_bulk_update_with_a_malformed_id_changes_nothing(shop: Shop) -> None:
    ada = shop.users.register(
        UserCreate(name="Ada Lovelace", email="ada@example.com", password="password-1")
    )

    with pytest.raises(InvalidId):
        shop.users.bulk_update_status([str(ada.id), "bad"], UserStatus.SUSPENDED)

    assert shop.repositories.users.get(ada.id).status is UserStatus.ACTIVE
