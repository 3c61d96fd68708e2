"""Wallets: accounts, admin credits, transfers between users, ledger history.

Every balance change is made in a transaction together with its ledger entry,
so an account's balance always equals the sum of its ledger entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from mongoshop._async.repositories.transfers import AsyncTransferRepository
from mongoshop._async.repositories.wallet import AsyncAccountRepository, AsyncLedgerRepository
from mongoshop._async.services.idempotency import run_once
from mongoshop._async.transactions import AsyncTransactions
from mongoshop.clock import Clock, utcnow
from mongoshop.errors import EmailNotVerified, ValidationFailed
from mongoshop.fingerprints import fingerprint
from mongoshop.models.common import Page, PageRequest, parse_object_id
from mongoshop.models.money import require_currency
from mongoshop.models.users import UserInDB
from mongoshop.models.wallet import (
    AccountInDB,
    CreditRequest,
    EntryKind,
    LedgerEntryInDB,
    TransferInDB,
    TransferRequest,
)


def require_verified(user: UserInDB) -> None:
    """Money moves only for a confirmed address: an unconfirmed account may sign in, read
    the catalog and its (empty) wallet, and receive transfers, but not order or pay."""
    if not user.email_verified:
        raise EmailNotVerified("confirm your e-mail address first (POST /auth/verify)")


class AsyncWalletService:
    def __init__(
        self,
        accounts: AsyncAccountRepository,
        ledger: AsyncLedgerRepository,
        transfers: AsyncTransferRepository,
        transactions: AsyncTransactions,
        currency: str,
        clock: Clock = utcnow,
    ) -> None:
        self.clock = clock
        self.accounts = accounts
        self.ledger = ledger
        self.transfers = transfers
        self.transactions = transactions
        self.currency = currency

    async def account_of(
        self, user: UserInDB, *, session: AsyncClientSession | None = None
    ) -> AccountInDB:
        """The user's account (opened on first use for users created before wallets existed)."""
        found = await self.accounts.find_by_user(user.id, session=session)
        if found is not None:
            return found
        return await self.accounts.open_for(user.id, self.currency, self.clock(), session=session)

    def account_key(self, account_id: ObjectId) -> str:
        """How a transaction names this account when it waits for its turn to change it."""
        return self.accounts.key(account_id)

    async def get(self, account_id: str) -> AccountInDB:
        return await self.accounts.get(account_id)

    async def credit(self, account_id: str, request: CreditRequest) -> AccountInDB:
        """An admin deposit, with its reason in the ledger."""
        require_currency(request.currency, self.currency)
        target = parse_object_id(account_id)

        async def deposit(session: AsyncClientSession) -> AccountInDB:
            await self.post(
                target,
                EntryKind.CREDIT,
                request.amount,
                self.clock(),
                reason=request.reason,
                session=session,
            )
            return await self.accounts.get(target, session=session)

        return await self.transactions.run(deposit, keys=[self.account_key(target)])

    async def post(
        self,
        account_id: ObjectId,
        kind: EntryKind,
        amount: int,
        at: datetime,
        *,
        reference_id: ObjectId | None = None,
        reason: str | None = None,
        session: AsyncClientSession,
    ) -> None:
        """Change a balance by `amount` (negative: a debit) with its ledger entry.

        The one way money moves: a balance changes only with an entry, so the
        entries of an account always add up to its balance. The guard is in the
        update's filter (no overdraft, no balance past `MAX_AMOUNT`), and both
        writes are in the caller's transaction (`session` is required): a
        failure after either leaves neither. Nothing is read back: the callers
        that show the balance read it after.
        """
        if amount >= 0:
            await self.accounts.credit(account_id, amount, self.currency, at, session=session)
        else:
            await self.accounts.debit(account_id, -amount, self.currency, at, session=session)
        await self.ledger.record(
            account_id,
            kind,
            amount,
            self.currency,
            at,
            reference_id=reference_id,
            reason=reason,
            session=session,
        )

    async def post_many(
        self,
        account_ids: Sequence[ObjectId],
        kind: EntryKind,
        amount: int,
        at: datetime,
        *,
        reason: str | None = None,
        session: AsyncClientSession,
    ) -> None:
        """Credit each account with `amount`, each with its ledger entry: `post` for many
        accounts at once (seeding), in two bulk writes, under the same guard."""
        if amount < 0:
            raise ValueError("post_many credits; a debit goes through post, one account at a time")
        await self.accounts.credit_many(account_ids, amount, self.currency, at, session=session)
        await self.ledger.record_many(
            account_ids, kind, amount, self.currency, at, reason=reason, session=session
        )

    async def open_funded_accounts(
        self, user_ids: Sequence[ObjectId], amount: int, reason: str
    ) -> int:
        """Open accounts with an opening credit for users that have none (seeding); how many."""
        if not user_ids:
            return 0

        async def open_batch(session: AsyncClientSession) -> int:
            now = self.clock()
            opened = await self.accounts.open_many(user_ids, self.currency, now, session=session)
            # Opened with their opening credit's entry: balance and ledger agree from the start.
            await self.post_many(
                opened, EntryKind.CREDIT, amount, now, reason=reason, session=session
            )
            return len(opened)

        return await self.transactions.run(open_batch)

    async def transfer(
        self,
        user: UserInDB,
        request: TransferRequest,
        idempotency_key: str | None = None,
    ) -> tuple[TransferInDB, bool]:
        """Move money from the user's account to another, once; (transfer, was it a replay).

        The same Idempotency-Key with the same request returns the original
        transfer and moves nothing; with a different request it is a conflict.
        """
        require_verified(user)
        require_currency(request.currency, self.currency)
        target = parse_object_id(request.to_account_id)
        # The id as parsed, not as typed: the same account in upper case is the same request.
        request_hash = fingerprint(
            "transfer", {**request.model_dump(mode="json"), "to_account_id": str(target)}
        )
        source = await self.account_of(user)
        if source.id == target:
            raise ValidationFailed("cannot transfer to the same account")

        async def move(session: AsyncClientSession) -> TransferInDB:
            now = self.clock()
            transfer_id = ObjectId()
            await self.post(
                source.id,
                EntryKind.TRANSFER_OUT,
                -request.amount,
                now,
                reference_id=transfer_id,
                session=session,
            )
            await self.post(
                target,
                EntryKind.TRANSFER_IN,
                request.amount,
                now,
                reference_id=transfer_id,
                session=session,
            )
            return await self.transfers.record(
                transfer_id,
                user_id=user.id,
                from_account_id=source.id,
                to_account_id=target,
                amount=request.amount,
                currency=request.currency,
                request_hash=request_hash,
                key=idempotency_key,
                at=now,
                session=session,
            )

        return await run_once(
            self.transactions,
            self.transfers,
            user_id=user.id,
            key=idempotency_key,
            request_hash=request_hash,
            what="transfer",
            body=move,
            keys=[self.account_key(source.id), self.account_key(target)],
        )

    async def history(self, user: UserInDB, paging: PageRequest) -> Page[LedgerEntryInDB]:
        account = await self.account_of(user)
        size = paging.page_size
        # One more than the page: whether there is a next one (`next_after`).
        items, total = await self.ledger.history(
            account.id, skip=paging.skip, limit=size + 1, after=paging.after
        )
        return Page[LedgerEntryInDB].after_lookahead(items, total, paging, lambda e: e.id)
