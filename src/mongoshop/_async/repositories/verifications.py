"""E-mail verification codes: only their digests, each usable once, until it expires."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from mongoshop._async.repositories.base import AsyncRepository
from mongoshop.models.users import PendingVerification


class AsyncVerificationRepository(AsyncRepository[PendingVerification]):
    collection_name = "email_verifications"
    model = PendingVerification
    indexes: ClassVar[Sequence[IndexModel]] = (
        # The sweep may lag: `consume` checks the expiry itself.
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_ttl"),
    )

    async def issue(
        self,
        digest: str,
        user_id: ObjectId,
        at: datetime,
        expires_at: datetime,
        *,
        session: AsyncClientSession | None = None,
    ) -> None:
        await self.create(
            {"_id": digest, "user_id": user_id, "created_at": at, "expires_at": expires_at},
            session=session,
        )

    async def consume(self, digest: str, now: datetime) -> PendingVerification | None:
        """The code's record, removed: None if unknown, expired or already used.

        A read by `_id` then a delete by `_id` (not ``findAndModify``, which costs a
        pass over the collection on the embedded server): of two concurrent uses of
        one code, only the one whose delete removes it succeeds.
        """
        found = await self.find_one({"_id": digest})
        if found is None or await self.delete({"_id": digest}) != 1:
            return None
        return found if found.expires_at > now else None
