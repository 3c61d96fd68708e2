"""Creating administrators: the CLI command's service call and the start-up bootstrap."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from mongoshop._async.shop import AsyncShop
from mongoshop.errors import AuthenticationFailed
from mongoshop.models.users import Role, UserCreate, UserStatus
from mongoshop.security import PasswordHasher


async def test_create_admin_creates_an_active_admin_who_can_sign_in(ashop: AsyncShop) -> None:
    admin = await ashop.users.create_admin(email="Root@Example.com", password="admin-password")

    stored = await ashop.repositories.users.get(admin.id)
    assert stored.email == "root@example.com"
    assert stored.is_admin
    assert Role.USER in stored.roles
    assert stored.status is UserStatus.ACTIVE
    assert (await ashop.auth.authenticate("root@example.com", "admin-password")).id == admin.id


async def test_create_admin_promotes_an_existing_user_in_place(ashop: AsyncShop) -> None:
    user = await ashop.users.register(
        UserCreate(name="Grace Hopper", email="grace@example.com", password="old-password")
    )
    await ashop.users.suspend(str(user.id))

    admin = await ashop.users.create_admin(email="GRACE@example.com", password="new-password")

    assert admin.id == user.id
    assert await ashop.repositories.users.count() == 1
    stored = await ashop.repositories.users.get(user.id)
    assert stored.roles == [Role.USER, Role.ADMIN]
    assert stored.status is UserStatus.ACTIVE
    assert stored.name == "Grace Hopper"
    assert (await ashop.auth.authenticate("grace@example.com", "new-password")).is_admin
    with pytest.raises(AuthenticationFailed):
        await ashop.auth.authenticate("grace@example.com", "old-password")


async def test_create_admin_twice_keeps_one_admin_with_the_latest_password(
    ashop: AsyncShop,
) -> None:
    first = await ashop.users.create_admin(email="root@example.com", password="password-one")
    second = await ashop.users.create_admin(email="root@example.com", password="password-two")

    assert first.id == second.id
    stored = await ashop.repositories.users.get(first.id)
    assert stored.roles == [Role.USER, Role.ADMIN]
    assert (await ashop.auth.authenticate("root@example.com", "password-two")).id == first.id


async def test_bootstrap_admin_creates_the_admin_named_in_the_settings(
    ashop: AsyncShop, hasher: PasswordHasher
) -> None:
    settings = ashop.settings.model_copy(
        update={"admin_email": "Boss@Example.com", "admin_password": SecretStr("boss-password")}
    )
    shop = AsyncShop(ashop.database, settings, hasher=hasher)

    await shop.bootstrap_admin()
    await shop.bootstrap_admin()

    admins = await shop.users.find_by_role(Role.ADMIN)
    assert [admin.email for admin in admins] == ["boss@example.com"]
    assert (await shop.auth.authenticate("boss@example.com", "boss-password")).is_admin


async def test_bootstrap_admin_without_admin_settings_creates_nobody(ashop: AsyncShop) -> None:
    assert ashop.settings.admin_email is None

    await ashop.bootstrap_admin()

    assert await ashop.repositories.users.count() == 0
