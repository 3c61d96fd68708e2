"""The transfers collection: one document per transfer, with its idempotency key."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from mongoshop._async.repositories.idempotent import (
    AsyncIdempotentRepository,
    idempotency_index,
    with_key,
)
from mongoshop.models.wallet import TransferInDB


class AsyncTransferRepository(AsyncIdempotentRepository[TransferInDB]):
    collection_name = "transfers"
    model = TransferInDB
    indexes: ClassVar[Sequence[IndexModel]] = (
        idempotency_index(),
        # A sender's transfers, newest first. It also serves the idempotency lookup
        # (user, key) on servers whose planner does not pick the partial index by
        # itself (the embedded one scans the collection instead): that lookup then
        # costs the sender's transfers, never the collection.
        IndexModel(
            [("user_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="user_newest",
        ),
    )

    async def record(
        self,
        transfer_id: ObjectId,
        *,
        user_id: ObjectId,
        from_account_id: ObjectId,
        to_account_id: ObjectId,
        amount: int,
        currency: str,
        request_hash: str,
        key: str | None,
        at: datetime,
        session: AsyncClientSession | None = None,
    ) -> TransferInDB:
        """The record of a transfer whose ledger entries the caller posts in the same
        transaction, with its Idempotency-Key (`key`, or none)."""
        document = with_key(
            {
                "_id": transfer_id,
                "user_id": user_id,
                "from_account_id": from_account_id,
                "to_account_id": to_account_id,
                "amount": amount,
                "currency": currency,
                "request_hash": request_hash,
                "created_at": at,
            },
            key,
        )
        await self.create(document, session=session)
        return self.to_model(document)
