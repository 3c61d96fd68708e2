"""Registration: hashed passwords, case-insensitive unique e-mails, and the race."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from mongoshop._async.shop import AsyncShop
from mongoshop.clock import utcnow
from mongoshop.errors import (
    AuthenticationFailed,
    DuplicateEmail,
    EmailNotVerified,
    InvalidVerificationToken,
    TooManyAttempts,
)
from mongoshop.models.orders import OrderItemRequest, OrderRequest
from mongoshop.models.users import Role, UserCreate, UserInDB, UserStatus
from mongoshop.models.wallet import CreditRequest, TransferRequest
from mongoshop.search import index_tokens
from mongoshop.security import new_token, token_digest
from mongoshop.streams.changes import Change

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
    assert await ashop.repositories.users.get(user.id) == user


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

    users = await ashop.repositories.users.find_many()
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
    stored = await ashop.repositories.users.find_by_email("race@example.com")
    assert stored is not None
    assert stored.id == winners[0].id


# --- the self-registration flow: the same answer for every address, proven by a code ---


def outbox_kinds(items: list[dict[str, object]]) -> list[object]:
    return sorted(item["kind"] for item in items)


async def mail_to(ashop: AsyncShop, email: str) -> list[dict[str, object]]:
    return await ashop.repositories.outbox.collection.find({"to": email}).to_list()


async def by_email(ashop: AsyncShop, email: str) -> UserInDB:
    user = await ashop.repositories.users.find_by_email(email)
    assert user is not None, email
    return user


def code_in(item: dict[str, object]) -> str:
    found = re.search(r"^([A-Za-z0-9_-]{40,})\r?$", str(item["text"]), re.MULTILINE)
    assert found is not None, item["text"]
    return found.group(1)


async def test_a_new_address_gets_an_unconfirmed_account_and_one_code(ashop: AsyncShop) -> None:
    await ashop.users.request_registration(signup(email="new@example.com"), "10.0.0.1")

    user = await by_email(ashop, "new@example.com")
    assert not user.email_verified
    [verification] = await mail_to(ashop, "new@example.com")
    assert verification["kind"] == "verify_email"
    code = code_in(verification)
    # Only the code's digest is stored, never the code.
    stored = await ashop.repositories.verifications.collection.find().to_list()
    assert [item["user_id"] for item in stored] == [user.id]
    assert code not in str(stored)

    confirmed = await ashop.users.verify_email(code)

    assert confirmed.email_verified
    assert confirmed.email_verified_at is not None
    with pytest.raises(InvalidVerificationToken):
        await ashop.users.verify_email(code)
    assert await ashop.repositories.verifications.collection.count_documents({}) == 0


async def test_a_sent_code_is_not_kept_in_the_outbox(ashop: AsyncShop) -> None:
    """The e-mail carried the code to its owner; at rest, the outbox keeps no copy (issue 21:
    it stayed there for good, readable by anyone with the database or an export)."""
    from mongoshop.models.mail import SCRUBBED, OutboxItem
    from mongoshop.worker.mail_sender import OutboxSender

    sent: list[OutboxItem] = []

    class Mailbox:
        async def send(self, item: OutboxItem) -> None:
            sent.append(item)

    await ashop.users.request_registration(signup(email="keep@example.com"))
    code = code_in((await mail_to(ashop, "keep@example.com"))[0])
    sender = OutboxSender(ashop.repositories.outbox, Mailbox(), ashop.settings)
    assert await sender.send_some()

    assert code in sent[0].text  # the owner got it
    [stored] = await mail_to(ashop, "keep@example.com")
    assert stored["status"] == "sent"
    assert stored["text"] == stored["html"] == SCRUBBED
    assert (await ashop.users.verify_email(code)).email_verified  # and it still works


async def test_a_taken_address_gets_a_notice_not_a_second_account(ashop: AsyncShop) -> None:
    owner = await ashop.users.register(signup(email="owner@example.com"), verified=True)

    for _ in range(2):  # twice in a day: one notice
        await ashop.users.request_registration(
            signup(name="Someone Else", email="OWNER@example.com")
        )

    assert await ashop.repositories.users.count({"email": "owner@example.com"}) == 1
    assert (await ashop.users.get(str(owner.id))).name == owner.name
    assert outbox_kinds(await mail_to(ashop, "owner@example.com")) == ["registration_notice"]


async def test_an_unconfirmed_owner_asking_again_gets_a_new_code_and_only_it_works(
    ashop: AsyncShop,
) -> None:
    await ashop.users.request_registration(signup(email="slow@example.com"))
    await ashop.users.request_registration(signup(email="slow@example.com"))

    items = await mail_to(ashop, "slow@example.com")
    assert outbox_kinds(items) == ["verify_email", "verify_email"]
    first, second = (code_in(item) for item in items)
    assert first != second
    with pytest.raises(InvalidVerificationToken):  # replaced by the newer one
        await ashop.users.verify_email(first)
    assert (await ashop.users.verify_email(second)).email_verified


async def test_a_squatter_who_registered_the_address_first_keeps_nothing(
    ashop: AsyncShop,
) -> None:
    """Pre-hijacking (issue 21): the attacker registers the victim's address with the
    attacker's password; the victim registers it too, confirms it from the mailbox,
    and the account is the victim's alone: the victim's password and name, every
    earlier session ended, the attacker's password refused."""
    victim = "victim@example.com"
    await ashop.users.request_registration(
        UserCreate(name="Mallory", email=victim, password="attacker-pass-1")
    )
    squatted = await by_email(ashop, victim)
    with pytest.raises(AuthenticationFailed):  # an unconfirmed account cannot sign in
        await ashop.auth.login(victim, "attacker-pass-1")
    # A session the squatter got anyway (an earlier version let unconfirmed accounts in).
    stale = new_token()
    await ashop.repositories.tokens.issue(
        token_digest(stale, ashop.settings.token_secret.get_secret_value()),
        squatted.id,
        utcnow() - timedelta(seconds=1),
        utcnow() + timedelta(hours=1),
    )
    assert (await ashop.auth.user_for_token(stale)).id == squatted.id

    await ashop.users.request_registration(
        UserCreate(name="Victoria", email=victim, password="victims-pass-1")
    )
    latest = code_in((await mail_to(ashop, victim))[-1])
    confirmed = await ashop.users.verify_email(latest)

    assert confirmed.id == squatted.id
    assert confirmed.name == "Victoria"
    assert confirmed.sessions_revoked_at is not None
    with pytest.raises(AuthenticationFailed):
        await ashop.auth.user_for_token(stale)
    assert (await ashop.auth.login(victim, "victims-pass-1")).access_token
    with pytest.raises(AuthenticationFailed):
        await ashop.auth.login(victim, "attacker-pass-1")


async def test_sign_in_right_after_registering_tells_nothing_about_the_address(
    ashop: AsyncShop,
) -> None:
    """A registration answers the same for a free and a taken address; a sign-in just
    after must not undo that (issue 21): a free address's new account is unconfirmed,
    and refused exactly like a wrong password for a taken one."""
    await ashop.users.register(signup(email="taken@example.com"))
    answers = []
    for email in ("taken@example.com", "free@example.com"):
        await ashop.users.request_registration(
            UserCreate(name="Prober", email=email, password="probe-pass-1")
        )
        with pytest.raises(AuthenticationFailed) as refused:
            await ashop.auth.login(email, "probe-pass-1")
        answers.append(str(refused.value))
    assert answers[0] == answers[1]


async def test_an_expired_code_is_refused(ashop: AsyncShop) -> None:
    await ashop.users.request_registration(signup(email="late@example.com"))
    [item] = await mail_to(ashop, "late@example.com")
    await ashop.repositories.verifications.collection.update_many(
        {}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
    )

    with pytest.raises(InvalidVerificationToken):
        await ashop.users.verify_email(code_in(item))
    assert not (await by_email(ashop, "late@example.com")).email_verified


async def test_wrong_codes_are_throttled_per_client_and_a_right_one_is_not_counted(
    ashop: AsyncShop,
) -> None:
    """Issue 21 #12: a client's wrong codes count like failed sign-ins (429 past the
    limit, for that client only); a right one leaves its count as it was."""
    await ashop.users.request_registration(signup(email="coded@example.com"))
    [item] = await mail_to(ashop, "coded@example.com")
    limit = ashop.settings.login_max_failures_per_client
    for _ in range(limit - 1):
        with pytest.raises(InvalidVerificationToken):
            await ashop.users.verify_email(new_token(), "10.0.0.7")
    verified = await ashop.users.verify_email(code_in(item), "10.0.0.7")
    assert verified.email_verified, "one place was left: the right code gets through"
    with pytest.raises(InvalidVerificationToken):
        await ashop.users.verify_email(new_token(), "10.0.0.7")
    with pytest.raises(TooManyAttempts):
        await ashop.users.verify_email(new_token(), "10.0.0.7")
    with pytest.raises(InvalidVerificationToken):  # another client is not held up
        await ashop.users.verify_email(new_token(), "10.0.0.6")


async def test_registrations_are_throttled_per_address_and_per_client(ashop: AsyncShop) -> None:
    limit = ashop.settings.register_max_per_email
    for _ in range(limit):
        await ashop.users.request_registration(signup(email="spam@example.com"), "10.0.0.9")
    with pytest.raises(TooManyAttempts):
        await ashop.users.request_registration(signup(email="spam@example.com"), "10.0.0.8")
    assert len(await mail_to(ashop, "spam@example.com")) == limit

    for n in range(ashop.settings.register_max_per_client - limit):
        await ashop.users.request_registration(signup(email=f"n{n}@example.com"), "10.0.0.9")
    with pytest.raises(TooManyAttempts):
        await ashop.users.request_registration(signup(email="fresh@example.com"), "10.0.0.9")
    assert await ashop.repositories.users.count({"email": "fresh@example.com"}) == 0


async def test_an_unconfirmed_account_may_not_order_or_pay(ashop: AsyncShop) -> None:
    user = await ashop.users.register(signup(email="wait@example.com"), verified=False)

    with pytest.raises(EmailNotVerified):
        await ashop.orders.place(
            user, OrderRequest(items=[OrderItemRequest(product_id=str(ObjectId()), quantity=1)])
        )
    with pytest.raises(EmailNotVerified):
        await ashop.wallet.transfer(
            user, TransferRequest(to_account_id=str(ObjectId()), amount=1, currency="EUR")
        )


async def test_admins_and_seeded_users_are_confirmed(ashop: AsyncShop) -> None:
    await ashop.users.register(signup(email="pending@example.com"), verified=False)
    admin = await ashop.users.create_admin(email="pending@example.com", password="password-9")
    seeded, _ = await ashop.users.add_demo_users(
        [{"name": "Demo Person", "email": "demo@example.com"}], password="password-9"
    )

    assert admin.email_verified
    assert seeded == 1
    assert (await by_email(ashop, "demo@example.com")).email_verified


async def test_users_created_in_bulk_are_not_welcomed_unless_asked(ashop: AsyncShop) -> None:
    """A seed of 20,000 users must not become 20,000 welcome e-mails (issue 20): bulk-made
    accounts carry ``welcome: false``, which the users stream and the reconciliation
    both honour; asked for (`--welcome`), they are welcomed like anyone confirmed."""
    since = utcnow() - timedelta(seconds=1)
    await ashop.users.add_demo_users(
        [{"name": "Quiet One", "email": "quiet@example.com"}], password="password-9"
    )
    await ashop.users.add_demo_users(
        [{"name": "Loud One", "email": "loud@example.com"}], password="password-9", welcome=True
    )
    await ashop.users.register(signup(email="self@example.com"), verified=True)
    users = ashop.repositories.users
    [quiet] = await users.find_documents({"email": "quiet@example.com"}, limit=1)
    [loud] = await users.find_documents({"email": "loud@example.com"}, limit=1)
    assert quiet["welcome"] is False
    assert loud["welcome"] is True

    assert not await ashop.mail.welcome_if_verified(
        Change.of({"operationType": "insert", "fullDocument": quiet}, UserInDB)
    )
    outbox = ashop.repositories.outbox
    assert await outbox.count({"kind": "welcome"}) == 0
    assert await ashop.mail.welcome_if_verified(
        Change.of({"operationType": "insert", "fullDocument": loud}, UserInDB)
    )
    # The reconciliation (a stream's history lost) skips them too: the other two only.
    assert await ashop.mail.reconcile_welcomes(since) == 1  # loud's is already there
    welcomed = {item["to"] for item in await outbox.find_documents({"kind": "welcome"})}
    assert welcomed == {"loud@example.com", "self@example.com"}


async def expire_codes_of(ashop: AsyncShop, email: str) -> None:
    """Age an account's latest code past its expiry, as a day without confirming would."""
    await ashop.repositories.users.collection.update_one(
        {"email": email}, {"$set": {"unconfirmed_until": utcnow() - timedelta(seconds=1)}}
    )


async def test_an_unconfirmed_account_expires_with_its_code_and_frees_the_address(
    ashop: AsyncShop,
) -> None:
    """Issue 21 #2: an account nobody confirmed lasted for ever. It expires with its latest
    code, its empty wallet with it; a fresh one, a confirmed one and a seeded one stay."""
    await ashop.users.request_registration(signup(email="gone@example.com"))
    await ashop.users.request_registration(signup(email="fresh@example.com"))
    await ashop.users.request_registration(signup(email="proven@example.com"))
    [item] = await mail_to(ashop, "proven@example.com")
    await ashop.users.verify_email(code_in(item))
    seeded = await ashop.users.register(signup(email="seeded@example.com"))
    gone = await by_email(ashop, "gone@example.com")
    fresh = await by_email(ashop, "fresh@example.com")
    assert fresh.unconfirmed_until is not None
    left = fresh.unconfirmed_until - utcnow()
    assert ashop.users.verification_ttl - timedelta(minutes=1) < left
    assert left <= ashop.users.verification_ttl
    proven = await by_email(ashop, "proven@example.com")
    assert proven.unconfirmed_until is None, "confirming ends the expiry"
    assert seeded.unconfirmed_until is None
    for email in ("gone@example.com", "proven@example.com", "seeded@example.com"):
        await expire_codes_of(ashop, email)  # a confirmed account has no expiry to age

    assert await ashop.users.expire_unconfirmed() == 1

    assert await ashop.repositories.users.find_by_id(gone.id) is None
    assert await ashop.repositories.accounts.find_by_user(gone.id) is None
    for kept in (fresh, proven, seeded):
        assert await ashop.repositories.users.find_by_id(kept.id) is not None
        assert await ashop.repositories.accounts.find_by_user(kept.id) is not None
    assert await ashop.users.expire_unconfirmed() == 0
    # The address is free: registering it again makes a new account.
    await ashop.users.request_registration(signup(email="gone@example.com"))
    again = await by_email(ashop, "gone@example.com")
    assert again.id != gone.id
    assert not again.email_verified


async def test_a_new_code_extends_an_unconfirmed_accounts_life(ashop: AsyncShop) -> None:
    await ashop.users.request_registration(signup(email="again@example.com"))
    await expire_codes_of(ashop, "again@example.com")

    await ashop.users.request_registration(signup(email="again@example.com"))

    assert await ashop.users.expire_unconfirmed() == 0
    user = await by_email(ashop, "again@example.com")
    assert user.unconfirmed_until is not None
    assert user.unconfirmed_until > utcnow()


async def test_an_unconfirmed_account_whose_wallet_saw_money_is_kept(ashop: AsyncShop) -> None:
    """A transfer or a deposit can reach an unconfirmed account: money and its ledger are
    never deleted, so that account stays and stops expiring."""
    await ashop.users.request_registration(signup(email="paid@example.com"))
    user = await by_email(ashop, "paid@example.com")
    account = await ashop.repositories.accounts.find_by_user(user.id)
    assert account is not None
    await ashop.wallet.credit(
        str(account.id), CreditRequest(amount=500, currency=ashop.wallet.currency, reason="gift")
    )
    await expire_codes_of(ashop, "paid@example.com")

    assert await ashop.users.expire_unconfirmed() == 0

    kept = await ashop.repositories.users.get(user.id)
    assert not kept.email_verified
    assert kept.unconfirmed_until is None, "no longer expiring: not read again each round"
    assert (await ashop.repositories.accounts.get(account.id)).balance == 500
    assert await ashop.repositories.users.expired_unconfirmed(utcnow(), limit=10) == []


async def test_an_account_confirmed_after_it_was_listed_is_not_deleted(ashop: AsyncShop) -> None:
    """The deletion is guarded: an account confirmed (or sent a new code) between the
    chore's read and its delete stays."""
    await ashop.users.request_registration(signup(email="late@example.com"))
    [item] = await mail_to(ashop, "late@example.com")
    await expire_codes_of(ashop, "late@example.com")
    [listed] = await ashop.repositories.users.expired_unconfirmed(utcnow(), limit=10)
    # The code itself has not expired: the owner confirms in time.
    await ashop.users.verify_email(code_in(item))

    async def delete(session: AsyncClientSession) -> bool:
        return await ashop.repositories.users.delete_expired_unconfirmed(
            listed, utcnow(), session=session
        )

    assert not await ashop.users.transactions.run(delete)
    assert (await ashop.repositories.users.get(listed)).email_verified


async def test_an_account_that_cannot_be_expired_does_not_stop_the_others(
    ashop: AsyncShop, caplog: pytest.LogCaptureFixture
) -> None:
    """A hostile document (a wallet whose balance is not a number, written past the
    validator) fails its own expiry, logged; the accounts after it still expire."""
    await ashop.users.request_registration(signup(email="poison@example.com"))
    await ashop.users.request_registration(signup(email="plain@example.com"))
    poison = await by_email(ashop, "poison@example.com")
    plain = await by_email(ashop, "plain@example.com")
    await ashop.repositories.accounts.collection.database.command(
        "update",
        "accounts",
        updates=[{"q": {"user_id": poison.id}, "u": {"$set": {"balance": "lots"}}}],
        bypassDocumentValidation=True,
    )
    for email in ("poison@example.com", "plain@example.com"):
        await expire_codes_of(ashop, email)

    assert await ashop.users.expire_unconfirmed() == 1

    assert await ashop.repositories.users.find_by_id(plain.id) is None
    assert await ashop.repositories.users.find_by_id(poison.id) is not None
    assert "could not be expired" in caplog.text
