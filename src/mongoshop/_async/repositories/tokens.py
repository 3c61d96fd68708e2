"""The tokens collection: access-token digests with their expiry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from bson import ObjectId
from pymongo import ASCENDING, IndexModel

from mongoshop._async.repositories.base import AsyncRepository
from mongoshop.models.tokens import TokenInDB


class AsyncTokenRepository(AsyncRepository[TokenInDB]):
    collection_name = "tokens"
    model = TokenInDB
    indexes: ClassVar[Sequence[IndexModel]] = (
        # The TTL monitor removes expired tokens eventually; validity is always
        # checked in the query too, because the sweep may lag by a minute or more.
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
        IndexModel([("user_id", ASCENDING)], name="user_id"),
    )

    async def issue(
        self, digest: str, user_id: ObjectId, created_at: datetime, expires_at: datetime
    ) -> TokenInDB:
        document = {
            "_id": digest,
            "user_id": user_id,
            "created_at": created_at,
            "expires_at": expires_at,
        }
        await self.collection.insert_one(document)
        return self.to_model(document)

    async def find_valid(self, digest: str, now: datetime) -> TokenInDB | None:
        """The token with this digest if it has not expired.

        A point lookup by `_id` alone, with the expiry checked on the document
        read: a filter with a second field is not served by the `_id` index on
        every engine (the embedded server scans the collection for it).
        """
        token = await self.find_one({"_id": digest})
        return token if token is not None and token.expires_at > now else None

    async def revoke(self, digest: str) -> bool:
        return await self.delete({"_id": digest}) == 1

    async def revoke_all_for(self, user_id: ObjectId) -> int:
        """Sign a user out everywhere (suspension, password change)."""
        result = await self.collection.delete_many({"user_id": user_id})
        return result.deleted_count

    async def revoke_all_for_users(self, user_ids: Sequence[ObjectId]) -> int:
        """Sign many users out everywhere (bulk suspension or deactivation)."""
        result = await self.collection.delete_many({"user_id": {"$in": list(user_ids)}})
        return result.deleted_count
