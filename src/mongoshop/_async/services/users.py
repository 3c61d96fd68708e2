"""User accounts: registration, profiles, administration, statistics."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import PyMongoError

from mongoshop._async.compat import Background, hash_password, verify_password
from mongoshop._async.repositories.outbox import AsyncOutboxRepository
from mongoshop._async.repositories.tokens import AsyncTokenRepository
from mongoshop._async.repositories.users import (
    AsyncUserRepository,
    registration_fields,
    user_document,
)
from mongoshop._async.repositories.verifications import AsyncVerificationRepository
from mongoshop._async.repositories.wallet import AsyncAccountRepository, AsyncLedgerRepository
from mongoshop._async.services.caching import cached_page, read_through
from mongoshop._async.services.throttle import AsyncLoginThrottle
from mongoshop._async.transactions import AsyncTransactions
from mongoshop.cache import Listings, ReadCache
from mongoshop.clock import Clock, utcnow
from mongoshop.errors import (
    Conflict,
    DuplicateEmail,
    InvalidVerificationToken,
    NotFound,
    PermissionDenied,
)
from mongoshop.iterables import batched
from mongoshop.mail.documents import registration_notice_document, verification_document
from mongoshop.models.common import Page, PageRequest, parse_object_id
from mongoshop.models.users import (
    Role,
    UserCreate,
    UserFilter,
    UserInDB,
    UserStatus,
    UserUpdate,
)
from mongoshop.security import PasswordHasher, new_token, token_digest

logger = logging.getLogger(__name__)

EXPIRY_BATCH = 100
"""Expired unconfirmed accounts deleted per round of the worker's chore."""


class AsyncUserService:
    def __init__(
        self,
        users: AsyncUserRepository,
        tokens: AsyncTokenRepository,
        accounts: AsyncAccountRepository,
        transactions: AsyncTransactions,
        hasher: PasswordHasher,
        currency: str,
        *,
        cache: ReadCache[UserInDB] | None = None,
        listings: Listings | None = None,
        background: Background | None = None,
        verifications: AsyncVerificationRepository,
        outbox: AsyncOutboxRepository,
        ledger: AsyncLedgerRepository,
        secret: str,
        verification_ttl: timedelta = timedelta(days=1),
        registration_throttle: AsyncLoginThrottle | None = None,
        password_throttle: AsyncLoginThrottle | None = None,
        verification_throttle: AsyncLoginThrottle | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.clock = clock
        self.verifications = verifications
        self.outbox = outbox
        self.ledger = ledger
        self._secret = secret
        self.verification_ttl = verification_ttl
        self.registration_throttle = registration_throttle
        self.password_throttle = password_throttle
        self.verification_throttle = verification_throttle
        """The sign-in throttle: a wrong `current_password` is a failed sign-in."""
        self.users = users
        self.tokens = tokens
        self.accounts = accounts
        self.transactions = transactions
        self.hasher = hasher
        self.currency = currency
        self.cache = cache
        self.listings = listings
        self.background = background

    async def register(self, data: UserCreate, *, verified: bool = True) -> UserInDB:
        """Create an active user with the `user` role and its wallet, in one transaction:
        an account made on someone's behalf (scripts, tests), confirmed by default.

        With `verified` False (what a self-registration makes, `request_registration`),
        the address is not confirmed yet: a verification code is stored (its digest)
        and its e-mail enqueued in the same transaction, so the code exists if and
        only if the account does, and the worker sends it once. A taken e-mail is
        `DuplicateEmail`, decided by the unique index.
        """
        password_hash = await hash_password(self.hasher, data.password)
        return await self._create(data, password_hash, verified=verified)

    async def _create(self, data: UserCreate, password_hash: str, *, verified: bool) -> UserInDB:
        document = user_document(
            name=data.name,
            email=data.email,
            password_hash=password_hash,
            age=data.age,
            preferences=data.preferences,
            email_verified=verified,
        )

        async def create(session: AsyncClientSession) -> UserInDB:
            user = await self.users.insert_user(document, session=session)
            await self.accounts.open_for(user.id, self.currency, user.created_at, session=session)
            if not verified:
                await self._send_code({**document, "_id": user.id}, session)
            return user

        user = await self.transactions.run(create)
        self._evict(user.id)
        logger.info("user registered", extra={"user_id": str(user.id)})
        return user

    async def request_registration(self, data: UserCreate, client: str | None = None) -> None:
        """A self-registration, answered the same whether the address is new or taken.

        New: the account is created unconfirmed and a code is mailed (`register`).
        Taken by a confirmed account: its owner is told someone tried (at most once a
        day). Taken by an unconfirmed one: nobody has proven the address yet, so this
        registration replaces the last one's password, name and preferences, ends
        every session of the account, and mails a new code (the earlier codes stop
        working). Whoever can read the address's mail decides the account: a squatter
        who registered it first keeps nothing (issue 21, pre-hijacking). Throttled per
        address and per client: each attempt costs a password hash and may send a
        message.
        """
        if self.registration_throttle is not None:
            await self.registration_throttle.record(data.email, client)
        password_hash = await hash_password(self.hasher, data.password)
        try:
            await self._create(data, password_hash, verified=False)
            return
        except DuplicateEmail:
            pass
        owner = await self.users.contact_by_email(data.email)
        if owner is None:  # deleted in between: nothing to tell anyone
            return
        if owner.get("email_verified", True) is True:
            await self.outbox.enqueue(
                registration_notice_document(owner, self.clock().strftime("%Y-%m-%d"))
            )
            return

        now = self.clock()
        fields = registration_fields(
            data.name, data.email, password_hash, data.age, data.preferences, now
        )

        async def replace(session: AsyncClientSession) -> None:
            user = await self.users.replace_unconfirmed(owner["_id"], fields, session=session)
            if user is not None:  # else confirmed meanwhile: the code is not for it
                await self._send_code({**owner, **fields}, session)

        await self.transactions.run(replace, keys=[self.users.key(owner["_id"])])
        self._evict(owner["_id"])

    async def _send_code(self, user: Mapping[str, Any], session: AsyncClientSession) -> None:
        """A new verification code for `user`: its digest stored, its e-mail enqueued."""
        token = new_token()
        digest = token_digest(token, self._secret)
        now = self.clock()
        await self.verifications.issue(
            digest, user["_id"], now, now + self.verification_ttl, session=session
        )
        await self.users.code_sent(user["_id"], now, now + self.verification_ttl, session=session)
        await self.outbox.enqueue_in(
            verification_document(user, digest, token, self.verification_ttl), session
        )

    async def verify_email(self, token: str, client: str | None = None) -> UserInDB:
        """Confirm an address with the code mailed to it; the code then stops working.

        An unknown, used or expired code is `InvalidVerificationToken`. Confirming
        sets `email_verified`, which the worker's users stream turns into the
        welcome e-mail. A client's wrong codes count against its limit of failed
        sign-ins (`TooManyAttempts` past it): a code cannot be guessed (256 bits),
        but an endless stream of guesses still costs a read each.
        """
        if self.verification_throttle is None or client is None:
            return await self._verify(token)
        async with self.verification_throttle.attempt(None, client):
            return await self._verify(token)

    async def _verify(self, token: str) -> UserInDB:
        now = self.clock()
        pending = await self.verifications.consume(token_digest(token, self._secret), now)
        if pending is None:
            raise InvalidVerificationToken("this code is unknown, already used or expired")
        user = await self.users.get(pending.user_id)
        latest = user.verification_sent_at
        if latest is not None and pending.created_at != latest:
            # An earlier code: a newer registration or re-send has replaced it.
            raise InvalidVerificationToken("this code is unknown, already used or expired")
        if not user.email_verified:
            user = await self.users.confirm(user.id, now)
            self._evict(user.id)
            logger.info("e-mail verified", extra={"user_id": str(user.id)})
        return user

    async def expire_unconfirmed(self, *, limit: int = EXPIRY_BATCH) -> int:
        """Delete up to `limit` accounts nobody confirmed before their latest code expired,
        with their empty wallets; how many. The address is free again, and nothing of a
        registration that was never proven stays (issue 21 #2).

        An account whose wallet has seen money (a transfer or a deposit can reach an
        unconfirmed account) is kept and no longer expires: money and its history are
        never deleted. Each account goes in its own transaction, guarded so that one
        confirmed or sent a new code meanwhile stays.
        """
        now = self.clock()
        expired = await self.users.expired_unconfirmed(now, limit=limit)
        deleted = 0
        for user_id in expired:
            try:
                gone = await self._expire(user_id, now)
            except PyMongoError:
                raise  # the database's trouble, not this account's: the round ends
            except Exception:
                # This account's failed attempt (a document that does not load...): the
                # others still expire, and it is tried again next round.
                logger.exception(
                    "an unconfirmed account could not be expired", extra={"user_id": str(user_id)}
                )
                continue
            if gone:
                deleted += 1
                self._evict(user_id)
        if deleted:
            logger.info("unconfirmed accounts expired", extra={"count": deleted})
        return deleted

    async def _expire(self, user_id: ObjectId, now: datetime) -> bool:
        kept = False

        async def expire(session: AsyncClientSession) -> bool:
            nonlocal kept
            kept = False  # a retried attempt decides again
            account = await self.accounts.find_by_user(user_id, session=session)
            if account is not None:
                if account.balance != 0 or await self.ledger.has_entries(
                    account.id, session=session
                ):
                    kept = True
                    return False
                if not await self.users.delete_expired_unconfirmed(user_id, now, session=session):
                    return False
                await self.accounts.delete_empty(account.id, session=session)
                return True
            return await self.users.delete_expired_unconfirmed(user_id, now, session=session)

        expired = await self.transactions.run(expire, keys=[self.users.key(user_id)])
        if kept:
            await self.users.keep_unconfirmed(user_id)
            logger.warning(
                "an unconfirmed account's wallet has seen money: kept, no longer expiring",
                extra={"user_id": str(user_id)},
            )
        return expired

    async def find_by_email(self, email: str) -> UserInDB | None:
        return await self.users.find_by_email(email)

    async def create_admin(
        self, *, email: str, password: str, name: str = "Administrator"
    ) -> UserInDB:
        """Create an admin, or make the existing user with this e-mail an active admin.

        Used by ``mongoshop users create-admin`` and the start-up bootstrap; the
        password given always becomes the account's password.
        """
        password_hash = await hash_password(self.hasher, password)
        existing = await self.users.find_by_email(email)
        if existing is None:
            try:
                admin = await self.users.insert_user(
                    user_document(
                        name=name,
                        email=email,
                        password_hash=password_hash,
                        roles=(Role.USER, Role.ADMIN),
                    )
                )
                await self.accounts.open_for(admin.id, self.currency, admin.created_at)
                return admin
            except Conflict:
                existing = await self.users.find_by_email(email)
                if existing is None:
                    raise
        roles = list(dict.fromkeys([*existing.roles, Role.ADMIN]))
        await self.accounts.open_for(existing.id, self.currency, self.clock())
        return await self.users.change(
            existing.id,
            {
                "roles": [role.value for role in roles],
                "status": UserStatus.ACTIVE.value,
                "password_hash": password_hash,
                # Made an admin by the operator: the address is theirs to vouch for.
                "email_verified": True,
            },
            self.clock(),
        )

    async def add_demo_users(
        self,
        users: Iterable[Mapping[str, Any]],
        *,
        password: str,
        welcome: bool = False,
        batch_size: int = 500,
        on_batch: Callable[[int], None] | None = None,
    ) -> tuple[int, int]:
        """Bulk-insert users (fields as from `mongoshop.demo`) sharing one password.

        One argon2 hash serves the whole batch: hashing per user would make
        seeding thousands of users take minutes. Users whose e-mail exists are
        skipped, so seeding twice is safe. They are not welcomed unless `welcome`:
        nobody asked them whether they wanted an account. Returns (inserted, skipped).
        """
        password_hash = await hash_password(self.hasher, password)
        inserted = skipped = 0
        for batch in batched(users, batch_size):
            documents = [
                user_document(password_hash=password_hash, welcome=welcome, **fields)
                for fields in batch
            ]
            added, duplicates = await self.users.insert_many_new(documents)
            inserted += added
            skipped += duplicates
            if on_batch is not None:
                on_batch(len(batch))
        return inserted, skipped

    async def get(self, user_id: str) -> UserInDB:
        return await self.users.get(user_id)

    async def get_visible_to(self, actor: UserInDB, user_id: str) -> UserInDB:
        """A user as seen by `actor`: themselves, or anyone for an admin.

        Anyone else gets `NotFound`, exactly as for an id that does not exist,
        so the answer does not reveal which ids exist.
        """
        target = parse_object_id(user_id)
        if target != actor.id and not actor.is_admin:
            raise NotFound(f"user {user_id} not found")
        return await read_through(self.cache, target, lambda: self.users.get(target))

    def _evict(self, *user_ids: ObjectId) -> None:
        """Forget what this process cached of users it just changed (their profile, and the
        admin list's pages, which their status, roles or name may move them in or out of)."""
        if self.cache is not None:
            for user_id in user_ids:
                self.cache.invalidate(user_id)
        if self.listings is not None:
            self.listings.clear()

    async def update(self, actor: UserInDB, user_id: str, changes: UserUpdate) -> UserInDB:
        """Apply a partial update; an update that changes nothing is still a success."""
        target = parse_object_id(user_id)
        if target != actor.id and not actor.is_admin:
            raise NotFound(f"user {user_id} not found")
        if changes.admin_fields and not actor.is_admin:
            raise PermissionDenied(
                "only an admin may change " + " and ".join(sorted(changes.admin_fields))
            )
        if changes.password is not None:  # `current_password` alone changes nothing
            await self._check_password_change(actor, target, changes.current_password)
        fields = changes.model_dump(
            exclude_unset=True, mode="json", exclude={"password", "current_password"}
        )
        if changes.password is not None:
            fields["password_hash"] = await hash_password(self.hasher, changes.password)
        if not fields:
            return await self.users.get(target)
        if "roles" in fields:
            fields["roles"] = list(dict.fromkeys(fields["roles"]))
        # A new password or an inactive status ends the sessions: tokens issued until now
        # stop working at once, even where one is still cached.
        ends_sessions = changes.password is not None or fields.get("status") not in (
            None,
            UserStatus.ACTIVE.value,
        )
        user = await self.users.change(target, fields, self.clock(), end_sessions=ends_sessions)
        self._evict(target)
        if ends_sessions:
            await self.tokens.revoke_all_for(user.id)
        return user

    async def _check_password_change(
        self, actor: UserInDB, target: ObjectId, current_password: str | None
    ) -> None:
        """One's own password changes only with the current one; another user's, never here.

        A stolen session (a token) must not be enough to take the account over, and an
        admin resets someone else's password with `reset_password`, on purpose.
        """
        if target != actor.id:
            raise PermissionDenied(
                "another user's password is reset with POST /users/{id}/password-reset"
            )
        if current_password is None:
            raise PermissionDenied("current_password is required to change your password")

        async def check() -> None:
            stored = await self.users.get(target)
            if not await verify_password(self.hasher, current_password, stored.password_hash):
                raise PermissionDenied("the current password is wrong")

        if self.password_throttle is None:
            await check()
            return
        # Counted as a sign-in of the account: a session cannot guess its password faster
        # than a stranger at the sign-in form (429 past the same limit).
        async with self.password_throttle.attempt(actor.email, None):
            await check()

    async def reset_password(self, user_id: str, new_password: str) -> UserInDB:
        """An admin sets a user's password: every session of that user ends at once."""
        target = parse_object_id(user_id)
        password_hash = await hash_password(self.hasher, new_password)
        user = await self.users.change(
            target, {"password_hash": password_hash}, self.clock(), end_sessions=True
        )
        self._evict(target)
        await self.tokens.revoke_all_for(user.id)
        logger.info("password reset by an admin", extra={"user_id": str(user.id)})
        return user

    async def suspend(self, user_id: str) -> UserInDB:
        user = await self.users.change(
            user_id, {"status": UserStatus.SUSPENDED.value}, self.clock(), end_sessions=True
        )
        await self.tokens.revoke_all_for(user.id)
        self._evict(user.id)
        return user

    async def bulk_update_status(self, user_ids: Sequence[str], status: UserStatus) -> int:
        """Change many users' status; every id must be well-formed (else nothing changes)."""
        ids = [parse_object_id(user_id) for user_id in user_ids]
        modified = await self.users.bulk_update_status(ids, status, self.clock())
        if status is not UserStatus.ACTIVE:
            # As for a single suspension: a disabled account's sessions end for good.
            await self.tokens.revoke_all_for_users(ids)
        self._evict(*ids)
        return modified

    async def search(self, text: str, *, limit: int = 20) -> list[UserInDB]:
        return await self.users.search(text, limit=limit)

    async def list_page(self, criteria: UserFilter, paging: PageRequest) -> Page[UserInDB]:
        """A page of the admin's user list; a page asked for again is served by its cached ids."""
        items, total = await cached_page(
            self.listings,
            (criteria.model_dump_json(), paging.skip, paging.page_size),
            self.users,
            lambda: self.users.list_page(criteria, skip=paging.skip, limit=paging.page_size),
            self.background,
        )
        return Page[UserInDB].build(items, total, paging.page, paging.page_size)

    async def find_by_role(self, role: Role, *, limit: int = 100) -> list[UserInDB]:
        return await self.users.find_by_role(role, limit=limit)
