"""Fault injection on every write path outside the wallet and orders (those are in
`commerce/test_faults.py`), the event worker's included: each write either
completes exactly once or fails cleanly, with nothing half-done.

Two faults per path, on the path's first write command, through the server's
`failCommand` failpoint (only for this test's own client, always switched off):
the connection dropped (retryable writes retry, so the operation must complete,
once) and a refusal with a non-retryable error (the operation must fail with
the database's state as before, or in a state the service treats as safe).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.errors import PyMongoError

from mongoshop._async.shop import AsyncShop
from mongoshop.clock import utcnow
from mongoshop.errors import AuthenticationFailed
from mongoshop.models.common import Document
from mongoshop.models.mail import MailKind, outbox_key
from mongoshop.models.money import Money
from mongoshop.models.products import ProductCreate, ProductUpdate
from mongoshop.models.users import UserCreate, UserInDB, UserStatus, UserUpdate
from mongoshop.models.wallet import CreditRequest
from tests.integration.helpers import Faulty, assert_fired

PASSWORD = "correct-horse-1"


@dataclass
class World:
    shop: AsyncShop
    user: UserInDB
    user_id: str
    email: str
    token: str
    product_id: str
    account_id: str
    newcomer: UserInDB
    """A users insert event's document, not yet welcomed."""
    pending_key: str
    """The outbox key of the target's welcome e-mail, enqueued and due."""


OWNER = "fault-sender"
LEASE = timedelta(minutes=1)


@pytest.fixture
async def world(faulty: Faulty) -> World:
    shop = faulty.shop
    await shop.ensure_indexes()
    user = await shop.users.register(
        UserCreate(name="Fault Target", email="target@example.com", password=PASSWORD),
        verified=True,  # no verification e-mail ahead of the welcome in the outbox
    )
    issued = await shop.auth.login("target@example.com", PASSWORD)
    product = await shop.catalog.create(
        ProductCreate(
            name="Fault Lamp",
            category="lighting",
            price=Money(amount=500, currency=shop.settings.currency),
            inventory={"quantity": 10},  # type: ignore[arg-type]
        )
    )
    account = await shop.wallet.account_of(user)
    target = await shop.repositories.users.collection.find_one({"_id": user.id})
    assert target is not None
    await shop.mail.welcome(UserInDB.model_validate(target))
    return World(
        shop,
        user,
        str(user.id),
        user.email,
        issued.access_token,
        str(product.id),
        str(account.id),
        newcomer=UserInDB.model_validate(
            {**target, "_id": ObjectId(), "email": "newcomer@example.com"}
        ),
        pending_key=outbox_key(MailKind.WELCOME, user.id, user.email),
    )


async def stock(world: World) -> int:
    return (await world.shop.catalog.get(world.product_id)).inventory.quantity


@dataclass(frozen=True)
class WritePath:
    command: str
    """The first write command the operation sends: the one the failpoint hits."""
    act: Callable[[World], Awaitable[Any]]
    done: Callable[[World], Awaitable[bool]]
    """True when the operation's whole effect is in the database, exactly once."""
    untouched: Callable[[World], Awaitable[bool]]
    """True when none of it is."""
    retryable: bool = True
    """A single-document write the driver retries once on a dropped connection; a
    multi-document one (``update_many``) is not retried and must fail cleanly."""
    prepare: Callable[[World], Awaitable[Any]] | None = None
    """What must be done before, without the fault (the e-mail claimed before its record)."""


async def users_with(world: World, email: str) -> int:
    return await world.shop.repositories.users.collection.count_documents({"email": email})


async def accounts_of(world: World, email: str) -> int:
    user = await world.shop.repositories.users.find_by_email(email)
    if user is None:
        return 0
    return await world.shop.repositories.accounts.collection.count_documents({"user_id": user.id})


async def registered_once(world: World) -> bool:
    return await users_with(world, "new@example.com") == 1 and (
        await accounts_of(world, "new@example.com") == 1
    )


async def not_registered(world: World) -> bool:
    return await users_with(world, "new@example.com") == 0


async def user_field(world: World, field: str) -> Any:
    document = await world.shop.repositories.users.collection.find_one({"email": world.email})
    assert document is not None
    return document.get(field)


async def token_works(world: World) -> bool:
    try:
        await world.shop.auth.user_for_token(world.token)
    except AuthenticationFailed:
        return False
    return True


async def suspended_and_signed_out(world: World) -> bool:
    return await user_field(world, "status") == "suspended" and not await token_works(world)


async def product_named(world: World, name: str) -> int:
    return await world.shop.repositories.products.collection.count_documents({"name": name})


async def balance_and_entries(world: World) -> tuple[int, int]:
    account = await world.shop.repositories.accounts.get(world.account_id)
    entries = await world.shop.repositories.ledger.collection.count_documents(
        {"account_id": account.id}
    )
    return account.balance, entries


async def credit(world: World) -> Any:
    return await world.shop.wallet.credit(
        world.account_id,
        CreditRequest(amount=250, currency=world.shop.settings.currency, reason="fault test"),
    )


async def the_name_is(world: World, name: str) -> bool:
    return bool(await user_field(world, "name") == name)


async def logins(world: World) -> int:
    return int(await user_field(world, "login_count"))


async def welcomes_to(world: World, email: str) -> int:
    return await world.shop.repositories.outbox.collection.count_documents({"to": email})


async def pending_mail(world: World) -> Document:
    document = await world.shop.repositories.outbox.collection.find_one({"_id": world.pending_key})
    assert document is not None
    return document


async def claimed_once(world: World) -> bool:
    item = await pending_mail(world)
    return bool(item["claimed_by"] == OWNER and item["attempts"] == 1)


async def unclaimed(world: World) -> bool:
    item = await pending_mail(world)
    return item.get("claimed_by") is None and item["attempts"] == 0


async def claim_held(world: World) -> None:
    """Claim the due e-mail, unless this sender already holds it (a retry of the step)."""
    await world.shop.repositories.outbox.claim(OWNER, utcnow(), LEASE)


async def send_recorded(world: World) -> bool:
    return await world.shop.repositories.outbox.mark_sent(world.pending_key, OWNER, utcnow())


async def retry_recorded(world: World) -> bool:
    return await world.shop.repositories.outbox.mark_failed_attempt(
        world.pending_key, OWNER, "SMTP down", utcnow() + LEASE
    )


async def mail_status(world: World) -> str:
    return str((await pending_mail(world))["status"])


async def last_error(world: World) -> str | None:
    return (await pending_mail(world)).get("last_error")


async def checkpoint(world: World) -> Document | None:
    return await world.shop.repositories.checkpoints.collection.find_one({"_id": "fault-stream"})


async def checkpoint_saved(world: World) -> bool:
    saved = await checkpoint(world)
    return saved is not None and saved["resume_token"] == TOKEN


TOKEN = {"_data": "8266A1B2C3000000012B0429296E1404"}


PATHS: dict[str, WritePath] = {
    "register (user and wallet, one transaction)": WritePath(
        "insert",
        lambda w: w.shop.users.register(
            UserCreate(name="New Person", email="new@example.com", password=PASSWORD)
        ),
        registered_once,
        not_registered,
    ),
    "sign-in (login count, then a token)": WritePath(
        "update",
        lambda w: w.shop.auth.login(w.email, PASSWORD),
        lambda w: _eq(logins(w), 2),
        lambda w: _eq(logins(w), 1),
    ),
    "sign-out": WritePath(
        "delete",
        lambda w: w.shop.auth.logout(w.token),
        lambda w: _not(token_works(w)),
        token_works,
    ),
    "profile update": WritePath(
        "update",
        lambda w: w.shop.users.update(w.user, w.user_id, UserUpdate(name="Renamed Target")),
        lambda w: the_name_is(w, "Renamed Target"),
        lambda w: the_name_is(w, "Fault Target"),
    ),
    "suspension (status, then tokens)": WritePath(
        "update",
        lambda w: w.shop.users.suspend(w.user_id),
        suspended_and_signed_out,
        token_works,
    ),
    "bulk status (statuses, then tokens)": WritePath(
        "update",
        lambda w: w.shop.users.bulk_update_status([w.user_id], UserStatus.INACTIVE),
        lambda w: _both(_eq(user_field(w, "status"), "inactive"), _not(token_works(w))),
        token_works,
        retryable=False,
    ),
    "product creation": WritePath(
        "insert",
        lambda w: w.shop.catalog.create(
            ProductCreate(
                name="Fault Desk",
                category="office",
                price=Money(amount=9_900, currency=w.shop.settings.currency),
            )
        ),
        lambda w: _eq(product_named(w, "Fault Desk"), 1),
        lambda w: _eq(product_named(w, "Fault Desk"), 0),
    ),
    "product update": WritePath(
        "update",
        lambda w: w.shop.catalog.update(w.product_id, ProductUpdate(name="Fault Lantern")),
        lambda w: _eq(product_named(w, "Fault Lantern"), 1),
        lambda w: _eq(product_named(w, "Fault Lamp"), 1),
    ),
    "stock change": WritePath(
        "update",
        lambda w: w.shop.catalog.change_inventory(w.product_id, -3),
        lambda w: _eq(stock(w), 7),
        lambda w: _eq(stock(w), 10),
    ),
    "admin credit (balance and ledger, one transaction)": WritePath(
        "update",
        credit,
        lambda w: _eq(balance_and_entries(w), (250, 1)),
        lambda w: _eq(balance_and_entries(w), (0, 0)),
    ),
    # The event worker's writes: its change-stream handler, its sender, its checkpoints.
    "welcome e-mail enqueued (stream handler)": WritePath(
        "insert",
        lambda w: w.shop.mail.welcome(w.newcomer),
        lambda w: _eq(welcomes_to(w, "newcomer@example.com"), 1),
        lambda w: _eq(welcomes_to(w, "newcomer@example.com"), 0),
    ),
    "e-mail claimed by a sender": WritePath("update", claim_held, claimed_once, unclaimed),
    "e-mail recorded as sent": WritePath(
        "update",
        send_recorded,
        lambda w: _eq(mail_status(w), "sent"),
        # Claimed but not recorded: still pending, sent again once the lease ends.
        lambda w: _eq(mail_status(w), "pending"),
        prepare=claim_held,
    ),
    "failed send recorded for a retry": WritePath(
        "update",
        retry_recorded,
        lambda w: _eq(last_error(w), "SMTP down"),
        lambda w: _eq(last_error(w), None),
        prepare=claim_held,
    ),
    "change-stream checkpoint saved": WritePath(
        "update",
        lambda w: w.shop.repositories.checkpoints.save("fault-stream", TOKEN, utcnow()),
        checkpoint_saved,
        lambda w: _eq(checkpoint(w), None),
    ),
}


async def _eq(value: Awaitable[Any], expected: Any) -> bool:
    return bool(await value == expected)


async def _not(value: Awaitable[bool]) -> bool:
    return not await value


async def _both(first: Awaitable[bool], second: Awaitable[bool]) -> bool:
    return await first and await second


DROPPED = {"closeConnection": True}
REFUSED = {"errorCode": 2}  # BadValue: no retryable label, so the driver gives up at once


@pytest.mark.parametrize("path", PATHS, ids=PATHS.keys())
async def test_a_dropped_connection_completes_the_write_once_or_fails_cleanly(
    faulty: Faulty, world: World, path: str
) -> None:
    write = PATHS[path]
    if write.prepare is not None:
        await write.prepare(world)
    fault = {"failCommands": [write.command], **DROPPED}
    faulty.log.sent.clear()
    faulty.log.failures.clear()

    async with faulty.failing_once(**fault):
        if write.retryable:
            await write.act(world)
        else:
            with pytest.raises(PyMongoError):
                await write.act(world)

    if write.retryable:
        assert_fired(faulty.log, fault)
        assert await write.done(world)
    else:
        assert any(name == write.command for name, _ in faulty.log.failures)
        assert await write.untouched(world)


@pytest.mark.parametrize("path", PATHS, ids=PATHS.keys())
async def test_a_refused_write_fails_cleanly(faulty: Faulty, world: World, path: str) -> None:
    write = PATHS[path]
    if write.prepare is not None:
        await write.prepare(world)
    faulty.log.sent.clear()
    faulty.log.failures.clear()

    async with faulty.failing_once(failCommands=[write.command], **REFUSED):
        with pytest.raises(PyMongoError):
            await write.act(world)

    assert any(name == write.command for name, _ in faulty.log.failures), faulty.log.failures
    assert await write.untouched(world)
    # And the same operation works once the fault is gone.
    await write.act(world)
    assert await write.done(world)
