"""Shared by transfers and orders: one document per (user, Idempotency-Key)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from mongoshop._async.repositories.base import AsyncRepository, ModelT

IDEMPOTENCY_INDEX = "user_idempotency_key"


def idempotency_index() -> IndexModel:
    """Unique per user among documents that carry a key; documents without one are free."""
    return IndexModel(
        [("user_id", ASCENDING), ("idempotency_key", ASCENDING)],
        unique=True,
        partialFilterExpression={"idempotency_key": {"$exists": True}},
        name=IDEMPOTENCY_INDEX,
    )


class AsyncIdempotentRepository(AsyncRepository[ModelT]):
    """A repository whose documents may carry a client's Idempotency-Key."""

    async def find_by_key(
        self, user_id: ObjectId, key: str, *, session: AsyncClientSession | None = None
    ) -> ModelT | None:
        """The caller's document with this key (MongoDB and the embedded server both pick
        the partial index for this equality on their own; a hint made the latter scan)."""
        return await self.find_one({"user_id": user_id, "idempotency_key": key}, session=session)


def with_key(document: Mapping[str, Any], key: str | None) -> dict[str, Any]:
    """The document with its key, or without the field at all (so the partial index skips it)."""
    return {**document, "idempotency_key": key} if key is not None else dict(document)
