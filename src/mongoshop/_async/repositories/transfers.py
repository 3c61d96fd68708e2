"""The transfers collection: one document per transfer, with its idempotency key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pymongo import ASCENDING, DESCENDING, IndexModel

from mongoshop._async.repositories.idempotent import AsyncIdempotentRepository, idempotency_index
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
