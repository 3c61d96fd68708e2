"""The login_attempts collection: recent sign-in attempts per key, for throttling."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime
from typing import ClassVar

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from mongoshop._async.repositories.base import AsyncRepository
from mongoshop.models.common import Document
from mongoshop.models.throttle import LoginAttempts

# A document removed by the TTL monitor between our insert and our update is
# created again; more than a few rounds of that would mean something is wrong.
_CLAIM_ROUNDS = 5


class AsyncLoginAttemptRepository(AsyncRepository[LoginAttempts]):
    collection_name = "login_attempts"
    model = LoginAttempts
    indexes: ClassVar[Sequence[IndexModel]] = (
        # The sweep may lag; a claim always drops attempts older than the window itself.
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
    )

    async def claim(
        self,
        key: str,
        attempt: ObjectId,
        *,
        at: datetime,
        since: datetime,
        limit: int,
        expires_at: datetime,
    ) -> LoginAttempts:
        """Record `attempt` under `key` if fewer than `limit` attempts happened after `since`.

        One atomic update: the attempts older than `since` are dropped and the new
        one appended only while there is room, so concurrent claims are ranked by
        the server. Returns the key's attempts afterwards; `attempt` is among them
        if it was let through.
        """
        kept = {"$filter": {"input": "$attempts", "cond": {"$gt": ["$$this.at", since]}}}
        with_this_one = {"$concatArrays": ["$attempts", [{"$literal": {"id": attempt, "at": at}}]]}
        room = {"$lt": [{"$size": "$attempts"}, limit]}
        pipeline: list[Document] = [
            {"$set": {"attempts": kept}},
            {
                "$set": {
                    "attempts": {"$cond": [room, with_this_one, "$attempts"]},
                    "expires_at": {"$literal": expires_at},
                }
            },
        ]
        for _ in range(_CLAIM_ROUNDS):
            # An update then a read by `_id` (not findAndModify: see `update_and_get`).
            # Only this claim's caller withdraws `attempt`, so the read shows it if it
            # was let through, whatever other claims do in between.
            claimed = await self.update_and_get({"_id": key}, pipeline)
            if claimed is not None:
                return claimed
            # The first attempt under this key: create the document, then claim in
            # it like everyone else (an upsert racing another upsert is not atomic
            # on every server).
            with suppress(DuplicateKeyError):
                await self.collection.insert_one(
                    {"_id": key, "attempts": [], "expires_at": expires_at}
                )
        raise RuntimeError(f"login attempts for a key vanished {_CLAIM_ROUNDS} times in a row")

    async def withdraw(self, key: str, attempt: ObjectId) -> None:
        """Forget one attempt (it succeeded, or another key's limit refused it)."""
        await self.collection.update_one({"_id": key}, {"$pull": {"attempts": {"id": attempt}}})

    async def clear(self, key: str) -> None:
        """Forget every attempt under `key`."""
        await self.collection.delete_one({"_id": key})
