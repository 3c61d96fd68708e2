"""The schema registry: which indexes mongoshop owns, one small document."""

from __future__ import annotations

from collections.abc import Sequence

from mongoshop._async.repositories.base import AsyncRepository
from mongoshop.models.schema import IndexOwnership

OWNERSHIP = "indexes"


class AsyncSchemaRepository(AsyncRepository[IndexOwnership]):
    collection_name = "mongoshop_schema"
    model = IndexOwnership

    async def owned_indexes(self) -> dict[str, set[str]]:
        """The names of the indexes mongoshop created, by collection."""
        found = await self.find_one({"_id": OWNERSHIP})
        if found is None:
            return {}
        return {collection: set(names) for collection, names in found.owned.items()}

    async def record_owned(self, collection: str, names: Sequence[str]) -> None:
        """Remember that mongoshop created these (before or right after creating them:
        an index recorded but never built is merely planned again)."""
        if names:
            await self.collection.update_one(
                {"_id": OWNERSHIP},
                {"$addToSet": {f"owned.{collection}": {"$each": list(names)}}},
                upsert=True,
            )

    async def forget_owned(self, collection: str, names: Sequence[str]) -> None:
        if names:
            await self.collection.update_one(
                {"_id": OWNERSHIP}, {"$pullAll": {f"owned.{collection}": list(names)}}
            )
