"""The dashboards' figures, one document per dashboard (and per day of sales): what a
dashboard read costs is one read by `_id`, whatever the collections they describe hold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import BulkWriteError

from mongoshop._async.repositories.base import AsyncRepository
from mongoshop.models.common import Document
from mongoshop.models.figures import StoredFigures

DUPLICATE_KEY = 11000
NEVER = datetime(1970, 1, 1, tzinfo=UTC)
"""When figures only marked stale were computed: they never were."""


class AsyncFigureRepository(AsyncRepository[StoredFigures]):
    collection_name = "figures"
    model = StoredFigures

    async def load(self, name: str) -> StoredFigures | None:
        """`name`'s figures, None when never computed."""
        return (await self.load_many([name])).get(name)

    async def load_many(self, names: Sequence[str]) -> dict[str, StoredFigures]:
        """The figures of `names` that were ever computed, by name (a name only marked
        stale, never computed, is missing like one never heard of)."""
        found = await self.find_documents({"_id": {"$in": list(names)}}, limit=len(names))
        return {document["_id"]: self.to_model(document) for document in found if document["value"]}

    async def save(self, name: str, value: Mapping[str, Any], at: datetime) -> None:
        """Store `value` as `name`'s figures, unless figures computed later are there."""
        await self.save_many({name: value}, at)

    async def save_many(self, values: Mapping[str, Mapping[str, Any]], at: datetime) -> None:
        """Store each name's figures computed at `at`, unless figures computed later are
        there. A stale mark (`mark_stale`) stays: figures computed before it are stale."""
        writes = [
            UpdateOne(
                {"_id": name, "computed_at": {"$not": {"$gt": at}}},
                {"$set": {"value": dict(value), "computed_at": at}},
                upsert=True,
            )
            for name, value in values.items()
        ]
        if not writes:
            return
        try:
            await self.collection.bulk_write(writes, ordered=False)
        except BulkWriteError as exc:
            # Figures computed later are there (the upsert met their `_id`): they stay.
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            if exc.details.get("writeConcernErrors"):
                raise

    async def mark_stale(
        self, name: str, at: datetime, *, session: AsyncClientSession | None = None
    ) -> None:
        """Say that `name`'s figures computed before `at` miss a change (in the change's
        own transaction, so the mark cannot be lost). Figures never computed are kept
        as a mark only: empty figures computed at the epoch, which `load` ignores."""
        update: Document = {
            "$max": {"stale_at": at},
            "$setOnInsert": {"value": {}, "computed_at": NEVER},
        }
        await self.collection.update_one({"_id": name}, update, upsert=True, session=session)
