"""The dashboards' figures, one document per dashboard: what a dashboard read costs is
one read by `_id`, whatever the collections they describe hold."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from mongoshop._async.repositories.base import AsyncRepository
from mongoshop.models.common import Document
from mongoshop.models.figures import StoredFigures


class AsyncFigureRepository(AsyncRepository[StoredFigures]):
    collection_name = "figures"
    model = StoredFigures

    async def load(self, name: str) -> StoredFigures | None:
        return await self.find_one({"_id": name})

    async def save(self, name: str, value: Mapping[str, Any], at: datetime) -> None:
        """Store `value` as `name`'s figures, unless figures computed later are there."""
        update: Document = {"$set": {"value": dict(value), "computed_at": at}}
        older: Document = {"_id": name, "computed_at": {"$not": {"$gt": at}}}
        with suppress(DuplicateKeyError):  # figures computed later are there: they stay
            await self.collection.update_one(older, update, upsert=True)
