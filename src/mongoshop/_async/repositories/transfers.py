"""The transfers collection: one document per transfer, with its idempotency key."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pymongo import IndexModel

from mongoshop._async.repositories.idempotent import AsyncIdempotentRepository, idempotency_index
from mongoshop.models.wallet import TransferInDB


class AsyncTransferRepository(AsyncIdempotentRepository[TransferInDB]):
    collection_name = "transfers"
    model = TransferInDB
    indexes: ClassVar[Sequence[IndexModel]] = (idempotency_index(),)
