"""The schema registry: which indexes mongoshop owns, and which migrations ran."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

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


APPLIED = "migrations"
LEASE = "migration-lease"


def _checkpoint_id(number: int) -> str:
    return f"migration-checkpoint-{number:04d}"


class AsyncMigrationRecords:
    """The migrations' own documents in `mongoshop_schema`, all read and written by `_id`:

    - ``migrations``: the applied ones, each with its number, name and code checksum;
    - ``migration-lease``: who runs migrations now, until when (renewed while it runs);
    - ``migration-checkpoint-NNNN``: how far a batched migration got.
    """

    def __init__(self, registry: AsyncSchemaRepository) -> None:
        self.collection = registry.collection

    async def applied(self) -> list[dict[str, Any]]:
        found = await self.collection.find_one({"_id": APPLIED})
        return list(found.get("applied", [])) if found else []

    async def record_applied(self, number: int, name: str, checksum: str, at: datetime) -> bool:
        """Record a migration as applied; False when it already was (by another process:
        the filter then misses and the upsert collides with the existing record)."""
        entry = {"number": number, "name": name, "checksum": checksum, "applied_at": at}
        try:
            await self.collection.update_one(
                {"_id": APPLIED, "applied.number": {"$ne": number}},
                {"$push": {"applied": entry}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def database_now(self) -> datetime:
        """The database server's clock (``hello``'s ``localTime``): leases are judged by
        it, so a host whose own clock runs fast cannot take over a live one."""
        reply = await self.collection.database.client.admin.command("hello")
        local: datetime = reply["localTime"]
        return local if local.tzinfo is not None else local.replace(tzinfo=UTC)

    async def take_lease(self, holder: str, lease: timedelta) -> bool:
        """The lease for `lease` from now on the database's clock, if it is free, expired,
        or already this holder's; False if another holds it."""
        now = await self.database_now()
        until = now + lease
        try:
            await self.collection.update_one(
                {"_id": LEASE, "$or": [{"expires_at": {"$lt": now}}, {"holder": holder}]},
                {"$set": {"holder": holder, "expires_at": until}},
                upsert=True,
            )
        except DuplicateKeyError:  # held by another: the filter missed, the upsert collided
            return False
        return True

    async def release_lease(self, holder: str) -> None:
        await self.collection.delete_one({"_id": LEASE, "holder": holder})

    async def checkpoint(self, number: int) -> Any:
        found = await self.collection.find_one({"_id": _checkpoint_id(number)})
        return None if found is None else found.get("last_id")

    async def save_checkpoint(self, number: int, last_id: Any, holder: str) -> None:
        await self.collection.update_one(
            {"_id": _checkpoint_id(number)},
            {"$set": {"last_id": last_id, "holder": holder}},
            upsert=True,
        )

    async def clear_checkpoint(self, number: int) -> None:
        await self.collection.delete_one({"_id": _checkpoint_id(number)})
