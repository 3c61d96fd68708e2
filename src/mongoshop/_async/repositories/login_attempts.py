"""The login_attempts collection: recent sign-in attempts per key, for throttling."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from mongoshop._async.repositories.base import AsyncRepository
from mongoshop.models.throttle import LoginAttempt


class AsyncLoginAttemptRepository(AsyncRepository[LoginAttempt]):
    collection_name = "login_attempts"
    model = LoginAttempt
    indexes: ClassVar[Sequence[IndexModel]] = (
        IndexModel([("key", ASCENDING), ("at", DESCENDING)], name="key_at"),
        # The sweep may lag; counts always filter on `at` themselves.
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
    )

    async def record(
        self, keys: Sequence[str], at: datetime, expires_at: datetime
    ) -> list[ObjectId]:
        """One attempt per key, all at `at`; their ids, to withdraw them on success."""
        ids = [ObjectId() for _ in keys]
        await self.collection.insert_many(
            [
                {"_id": id, "key": key, "at": at, "expires_at": expires_at}
                for id, key in zip(ids, keys, strict=True)
            ]
        )
        return ids

    async def newest_since(self, key: str, since: datetime, limit: int) -> list[datetime]:
        """When the newest `limit` attempts under `key` after `since` happened, newest first."""
        cursor = (
            self.collection.find({"key": key, "at": {"$gt": since}}, {"at": 1, "_id": 0})
            .sort([("at", DESCENDING)])
            .limit(limit)
        )
        return [document["at"] async for document in cursor]

    async def withdraw(self, ids: Sequence[ObjectId]) -> None:
        """Forget these attempts (they succeeded, or were refused without being tried)."""
        await self.collection.delete_many({"_id": {"$in": list(ids)}})

    async def clear(self, key: str) -> int:
        """Forget every attempt under `key`; how many there were."""
        result = await self.collection.delete_many({"key": key})
        return result.deleted_count
