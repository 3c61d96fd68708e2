"""Sign-in throttling against the real server: limits per e-mail and per client, and recovery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient

from mongoshop._async.shop import AsyncShop
from mongoshop.errors import AuthenticationFailed, Busy, TooManyAttempts
from mongoshop.models.common import Document
from mongoshop.models.users import UserCreate
from mongoshop.security import PasswordHasher
from mongoshop.settings import Settings
from tests.integration.helpers import MovingClock

PASSWORD = "correct-horse-1"
WINDOW = 3
PER_EMAIL = 3
PER_CLIENT = 5


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock()


@pytest.fixture
async def tight(
    async_client: AsyncMongoClient[Document],
    settings: Settings,
    hasher: PasswordHasher,
    clock: MovingClock,
) -> AsyncIterator[AsyncShop]:
    """A shop with small limits and a short window, on a clock the tests move."""
    limited = settings.model_copy(
        update={
            "login_max_failures": PER_EMAIL,
            "login_max_failures_per_client": PER_CLIENT,
            "login_window_seconds": WINDOW,
        }
    )
    shop = AsyncShop(async_client[limited.mongodb_database], limited, hasher=hasher, clock=clock)
    await shop.ensure_indexes()
    for name in ("ada", "grace", "alan"):
        await shop.users.register(
            UserCreate(name=name.title(), email=f"{name}@example.com", password=PASSWORD)
        )
    yield shop
    await async_client.drop_database(limited.mongodb_database)


async def fail(shop: AsyncShop, email: str, client: str = "10.0.0.1") -> None:
    with pytest.raises(AuthenticationFailed):
        await shop.auth.login(email, "wrong-password", client)


async def test_after_the_limit_even_the_right_password_waits_for_the_window(
    tight: AsyncShop, clock: MovingClock
) -> None:
    for _ in range(PER_EMAIL):
        await fail(tight, "ada@example.com")

    with pytest.raises(TooManyAttempts) as refused:
        await tight.auth.login("ada@example.com", PASSWORD, "10.0.0.1")

    assert 1 <= refused.value.retry_after <= WINDOW
    clock.advance(refused.value.retry_after - 0.5)
    with pytest.raises(TooManyAttempts):  # not yet
        await tight.auth.login("ada@example.com", PASSWORD, "10.0.0.1")
    clock.advance(0.7)
    issued = await tight.auth.login("ada@example.com", PASSWORD, "10.0.0.1")
    assert issued.access_token


async def test_the_limit_is_per_e_mail(tight: AsyncShop) -> None:
    for _ in range(PER_EMAIL):
        await fail(tight, "ada@example.com", client=f"10.0.1.{_}")

    with pytest.raises(TooManyAttempts):
        await tight.auth.login("ada@example.com", PASSWORD, "10.9.9.9")
    assert await tight.auth.login("grace@example.com", PASSWORD, "10.9.9.9")


async def test_the_limit_is_per_client_across_e_mails(tight: AsyncShop) -> None:
    emails = ["ada@example.com", "grace@example.com", "alan@example.com"] * 2
    for email in emails[:PER_CLIENT]:
        await fail(tight, email, client="10.0.0.66")

    with pytest.raises(TooManyAttempts):
        await tight.auth.login("alan@example.com", PASSWORD, "10.0.0.66")
    assert await tight.auth.login("alan@example.com", PASSWORD, "10.0.0.67")


async def test_an_ipv6_client_is_one_bucket_per_64_and_an_e_mail_one_in_any_case(
    tight: AsyncShop,
) -> None:
    """A host with a /64 has 2^64 addresses: one per guess must not be a fresh allowance
    each (issue 21); nor may ADA@ and ada@ count apart."""
    emails = ["ada@example.com", "grace@example.com", "alan@example.com"] * 2
    for n, email in enumerate(emails[:PER_CLIENT]):
        await fail(tight, email, client=f"2001:db8:7:7::{n + 1:x}")
    with pytest.raises(TooManyAttempts):
        await tight.auth.login("alan@example.com", PASSWORD, "2001:db8:7:7:ffff::9")
    assert await tight.auth.login("alan@example.com", PASSWORD, "2001:db8:7:8::1")

    for _ in range(PER_EMAIL):
        await fail(tight, "HEDY@Example.com", client="10.7.0.1")
    with pytest.raises(TooManyAttempts):
        await tight.auth.login("hedy@example.com", PASSWORD, "10.7.0.2")


async def test_a_successful_sign_in_forgets_the_e_mails_failures(tight: AsyncShop) -> None:
    for _ in range(PER_EMAIL - 1):
        await fail(tight, "ada@example.com")
    await tight.auth.login("ada@example.com", PASSWORD, "10.0.0.1")

    for _ in range(PER_EMAIL):  # a fresh allowance, not the one failure left
        await fail(tight, "ada@example.com")
    with pytest.raises(TooManyAttempts):
        await fail(tight, "ada@example.com")


async def test_refused_attempts_do_not_extend_the_wait(
    tight: AsyncShop, clock: MovingClock
) -> None:
    for _ in range(PER_EMAIL):
        await fail(tight, "ada@example.com")
    for _ in range(5):  # someone keeps trying, every 0.5 s, for 2.5 s of the 3 s window
        clock.advance(0.5)
        with pytest.raises(TooManyAttempts):
            await tight.auth.login("ada@example.com", "still-wrong", "10.0.0.1")

    clock.advance(0.501)  # the first failures leave the window; the refused ones never counted
    assert await tight.auth.login("ada@example.com", PASSWORD, "10.0.0.1")


async def test_concurrent_guesses_cannot_pass_the_limit(tight: AsyncShop) -> None:
    """All guesses start before any password check ends: exactly the limit are tried."""
    results = await asyncio.gather(
        *(tight.auth.login("ada@example.com", f"guess-{n}", f"10.0.2.{n}") for n in range(20)),
        return_exceptions=True,
    )

    tried = [r for r in results if isinstance(r, AuthenticationFailed)]
    refused = [r for r in results if isinstance(r, TooManyAttempts)]
    assert len(tried) + len(refused) == 20
    assert len(tried) == PER_EMAIL
    # Recorded: the tried ones, under the e-mail and under each one's address.
    stored = await tight.repositories.login_attempts.collection.find({}).to_list()
    held = sorted(len(document["attempts"]) for document in stored if document["attempts"])
    assert held == [1] * PER_EMAIL + [PER_EMAIL]


async def test_neither_e_mails_nor_addresses_are_stored(tight: AsyncShop) -> None:
    await fail(tight, "ada@example.com", client="192.0.2.77")

    stored = await tight.repositories.login_attempts.collection.find({}).to_list()
    assert stored
    text = repr(stored)
    # Not "ada" alone: it is hexadecimal, and an ObjectId of the run once held it.
    assert "ada@" not in text
    assert "example.com" not in text
    assert "192.0.2.77" not in text
    assert all(
        document["expires_at"] > attempt["at"]
        for document in stored
        for attempt in document["attempts"]
    )


async def test_without_a_client_address_the_e_mail_limit_still_applies(tight: AsyncShop) -> None:
    for _ in range(PER_EMAIL):
        with pytest.raises(AuthenticationFailed):
            await tight.auth.login("grace@example.com", "wrong-password")

    with pytest.raises(TooManyAttempts):
        await tight.auth.login("grace@example.com", PASSWORD)


async def test_a_sign_in_the_server_was_too_busy_to_check_is_not_counted(
    tight: AsyncShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21 #6: a 503 `Busy` (argon2's queue full) counted as a failed sign-in, so a
    flood of other people's requests could lock an account out with 429."""
    hasher = tight.auth.hasher

    def busy(password: str, password_hash: str | None) -> bool:
        raise Busy("too many passwords being checked at once; try again")

    monkeypatch.setattr(hasher, "verify", busy)
    for _ in range(PER_EMAIL + 2):
        with pytest.raises(Busy):
            await tight.auth.login("ada@example.com", PASSWORD, "10.0.0.1")
    monkeypatch.undo()

    issued = await tight.auth.login("ada@example.com", PASSWORD, "10.0.0.1")
    assert issued.access_token
