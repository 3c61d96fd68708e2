"""Accounts and their ledger: balances change only with a ledger entry, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from mongoshop._async.repositories.base import NEWEST_FIRST, AsyncRepository
from mongoshop.errors import BalanceLimitExceeded, InsufficientFunds, NotFound
from mongoshop.models.common import Document
from mongoshop.models.money import MAX_AMOUNT
from mongoshop.models.wallet import AccountInDB, EntryKind, LedgerEntryInDB
from mongoshop.observability.tracing import traced


class AsyncAccountRepository(AsyncRepository[AccountInDB]):
    collection_name = "accounts"
    model = AccountInDB
    indexes: ClassVar[Sequence[IndexModel]] = (
        IndexModel([("user_id", ASCENDING)], unique=True, name="user_id_unique"),
    )

    async def open_for(
        self,
        user_id: ObjectId,
        currency: str,
        at: datetime,
        *,
        session: AsyncClientSession | None = None,
    ) -> AccountInDB:
        """The user's account, created with a zero balance if it does not exist yet.

        An upsert on the unique `user_id`, then a read on the same index (in the
        caller's session): two point operations at any collection size.
        """
        await self.collection.update_one(
            {"user_id": user_id},
            {
                "$setOnInsert": {
                    "user_id": user_id,
                    "balance": 0,
                    "currency": currency,
                    "created_at": at,
                    "updated_at": at,
                }
            },
            upsert=True,
            session=session,
        )
        account = await self.find_by_user(user_id, session=session)
        if account is None:  # only if it was deleted between the two
            raise NotFound(f"account of user {user_id} could not be opened")
        return account

    async def open_many(
        self,
        user_ids: Sequence[ObjectId],
        currency: str,
        at: datetime,
        *,
        session: AsyncClientSession | None = None,
    ) -> list[ObjectId]:
        """Open a zero-balance account for each of these users that has none; their ids."""
        have = await self.users_with_accounts(user_ids, session=session)
        new: list[Document] = [
            {
                "_id": ObjectId(),
                "user_id": user_id,
                "balance": 0,
                "currency": currency,
                "created_at": at,
                "updated_at": at,
            }
            for user_id in user_ids
            if user_id not in have
        ]
        await self.create_many(new, session=session)
        opened: list[ObjectId] = [account["_id"] for account in new]
        return opened

    async def users_with_accounts(
        self, user_ids: Sequence[ObjectId], *, session: AsyncClientSession | None = None
    ) -> set[ObjectId]:
        """Which of these users already have an account (a find on the unique `user_id`
        index: ``distinct`` may not run in a transaction on a sharded collection)."""
        documents = await self.find_documents(
            {"user_id": {"$in": list(user_ids)}},
            projection={"_id": 0, "user_id": 1},
            limit=len(user_ids),
            session=session,
        )
        return {document["user_id"] for document in documents}

    async def find_by_user(
        self, user_id: ObjectId, *, session: AsyncClientSession | None = None
    ) -> AccountInDB | None:
        return await self.find_one({"user_id": user_id}, session=session)

    async def delete_empty(
        self, account_id: ObjectId, *, session: AsyncClientSession | None = None
    ) -> bool:
        """Delete the account if its balance is zero (an expired, unconfirmed user's);
        whether it was."""
        return await self.delete({"_id": account_id, "balance": 0}, session=session) == 1

    async def credit(
        self,
        account_id: ObjectId,
        amount: int,
        currency: str,
        at: datetime,
        *,
        session: AsyncClientSession | None = None,
    ) -> None:
        """Add `amount`; the guard in the filter keeps the balance within `MAX_AMOUNT`."""
        await self._move(
            account_id,
            currency,
            {"$lte": MAX_AMOUNT - amount},
            amount,
            at,
            BalanceLimitExceeded(
                f"account {account_id} cannot hold more than {MAX_AMOUNT} minor units"
            ),
            session,
        )

    async def credit_many(
        self,
        account_ids: Sequence[ObjectId],
        amount: int,
        currency: str,
        at: datetime,
        *,
        session: AsyncClientSession | None = None,
    ) -> None:
        """Add `amount` to each account in one bulk write, under `credit`'s guard; an
        account missing, in another currency or past `MAX_AMOUNT` fails them all (in
        the caller's transaction)."""
        if not account_ids:
            return
        result = await self.collection.bulk_write(
            [
                UpdateOne(
                    {
                        "_id": account_id,
                        "currency": currency,
                        "balance": {"$lte": MAX_AMOUNT - amount},
                    },
                    {"$inc": {"balance": amount}, "$set": {"updated_at": at}},
                )
                for account_id in account_ids
            ],
            session=session,
        )
        if result.matched_count != len(account_ids):
            raise BalanceLimitExceeded(
                f"{len(account_ids) - result.matched_count} of {len(account_ids)} accounts could"
                f" not be credited (missing, not in {currency}, or past {MAX_AMOUNT})"
            )

    async def debit(
        self,
        account_id: ObjectId,
        amount: int,
        currency: str,
        at: datetime,
        *,
        session: AsyncClientSession | None = None,
    ) -> None:
        """Take `amount`; the ``balance >= amount`` guard in the filter prevents overdrafts."""
        await self._move(
            account_id,
            currency,
            {"$gte": amount},
            -amount,
            at,
            InsufficientFunds("insufficient funds"),
            session,
        )

    async def _move(
        self,
        account_id: ObjectId,
        currency: str,
        balance_guard: Document,
        change: int,
        at: datetime,
        refused: InsufficientFunds | BalanceLimitExceeded,
        session: AsyncClientSession | None,
    ) -> None:
        # An account in another currency is as good as missing: money never converts.
        await self.guarded_change(
            {"_id": account_id, "currency": currency},
            {"balance": balance_guard},
            {"$inc": {"balance": change}, "$set": {"updated_at": at}},
            refused=refused,
            missing=NotFound(f"account {account_id} not found (in {currency})"),
            session=session,
        )


def ledger_entry(
    account_id: ObjectId,
    kind: EntryKind,
    amount: int,
    currency: str,
    at: datetime,
    reference_id: ObjectId | None,
    reason: str | None,
) -> Document:
    """The stored shape of a ledger entry: one place for one entry and for many."""
    return {
        "account_id": account_id,
        "kind": kind.value,
        "amount": amount,
        "currency": currency,
        "reference_id": reference_id,
        "reason": reason,
        "created_at": at,
        **traced(),
    }


class AsyncLedgerRepository(AsyncRepository[LedgerEntryInDB]):
    collection_name = "ledger"
    model = LedgerEntryInDB
    indexes: ClassVar[Sequence[IndexModel]] = (
        IndexModel(
            [("account_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="account_newest",
        ),
        IndexModel([("reference_id", ASCENDING)], name="reference", sparse=True),
    )

    async def record(
        self,
        account_id: ObjectId,
        kind: EntryKind,
        amount: int,
        currency: str,
        at: datetime,
        *,
        reference_id: ObjectId | None = None,
        reason: str | None = None,
        session: AsyncClientSession | None = None,
    ) -> ObjectId:
        entry = ledger_entry(account_id, kind, amount, currency, at, reference_id, reason)
        return await self.create(entry, session=session)

    async def record_many(
        self,
        account_ids: Sequence[ObjectId],
        kind: EntryKind,
        amount: int,
        currency: str,
        at: datetime,
        *,
        reason: str | None = None,
        session: AsyncClientSession | None = None,
    ) -> None:
        """The same entry for each account, in one insert."""
        await self.create_many(
            [
                ledger_entry(account, kind, amount, currency, at, None, reason)
                for account in account_ids
            ],
            session=session,
        )

    async def history(
        self, account_id: ObjectId, *, skip: int, limit: int, after: ObjectId | None = None
    ) -> tuple[list[LedgerEntryInDB], int]:
        """One page of an account's entries, newest first (after the entry `after`, when
        given: keyset pagination), and how many it has."""
        filter: Document = {"account_id": account_id}
        total = await self.count(filter)
        if after is not None:
            at = await self.cursor_time(filter, after, "ledger entry")
            return await self.newest_before(filter, at, after, limit=limit), total
        items = await self.find_many(filter, sort=NEWEST_FIRST, skip=skip, limit=limit)
        return items, total

    async def has_entries(
        self, account_id: ObjectId, *, session: AsyncClientSession | None = None
    ) -> bool:
        """Whether money ever moved in or out of the account (its index's first field)."""
        return await self.exists({"account_id": account_id}, session=session)

    async def sum_for(self, account_id: ObjectId) -> int:
        """The sum of an account's entries (what its balance must equal, from zero)."""
        cursor = await self.collection.aggregate(
            [
                {"$match": {"account_id": account_id}},
                {"$group": {"_id": None, "total": {"$sum": "$amount"}}},
            ]
        )
        rows = await cursor.to_list()
        return int(rows[0]["total"]) if rows else 0
