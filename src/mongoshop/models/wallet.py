"""Wallet models: accounts, ledger entries and transfers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

from mongoshop.models.common import TRIMMED_PATTERN, InputModel, PyObjectId, StoredModel, Trimmed
from mongoshop.models.money import Currency, Money, PositiveAmount

IdempotencyKey = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
"""Printable ASCII without spaces, as clients generate them (UUIDs, ULIDs...)."""


class AccountInDB(StoredModel):
    user_id: PyObjectId
    balance: int
    currency: str
    created_at: datetime
    updated_at: datetime


class AccountPublic(BaseModel):
    id: str
    user_id: str
    balance: Money
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, account: AccountInDB) -> AccountPublic:
        return cls(
            id=str(account.id),
            user_id=str(account.user_id),
            balance=Money(amount=account.balance, currency=account.currency),
            created_at=account.created_at,
            updated_at=account.updated_at,
        )


class EntryKind(StrEnum):
    CREDIT = "credit"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    ORDER = "order"
    REFUND = "refund"


class LedgerEntryInDB(StoredModel):
    account_id: PyObjectId
    kind: EntryKind
    amount: int
    """Signed: positive credits the account, negative debits it."""
    currency: str
    reference_id: PyObjectId | None = None
    reason: str | None = None
    created_at: datetime


class LedgerEntryPublic(BaseModel):
    id: str
    kind: EntryKind
    amount: Money
    direction: str
    reference_id: str | None
    reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, entry: LedgerEntryInDB) -> LedgerEntryPublic:
        return cls(
            id=str(entry.id),
            kind=entry.kind,
            amount=Money(amount=abs(entry.amount), currency=entry.currency),
            direction="credit" if entry.amount >= 0 else "debit",
            reference_id=None if entry.reference_id is None else str(entry.reference_id),
            reason=entry.reason,
            created_at=entry.created_at,
        )


class CreditRequest(InputModel):
    amount: PositiveAmount
    currency: Currency
    reason: Annotated[
        str,
        Field(min_length=1, max_length=200, json_schema_extra={"pattern": TRIMMED_PATTERN}),
        Trimmed,
    ]


class TransferRequest(InputModel):
    to_account_id: Annotated[str, Field(max_length=64)]
    amount: PositiveAmount
    currency: Currency


class TransferInDB(StoredModel):
    user_id: PyObjectId
    from_account_id: PyObjectId
    to_account_id: PyObjectId
    amount: int
    currency: str
    idempotency_key: str | None = None
    request_hash: str
    created_at: datetime


class TransferPublic(BaseModel):
    id: str
    from_account_id: str
    to_account_id: str
    amount: Money
    created_at: datetime

    @classmethod
    def of(cls, transfer: TransferInDB) -> TransferPublic:
        return cls(
            id=str(transfer.id),
            from_account_id=str(transfer.from_account_id),
            to_account_id=str(transfer.to_account_id),
            amount=Money(amount=transfer.amount, currency=transfer.currency),
            created_at=transfer.created_at,
        )
