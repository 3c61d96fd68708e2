"""Change-stream checkpoints: the resume token of each stream, saved after its effects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mongoshop._async.repositories.base import AsyncRepository
from mongoshop.models.checkpoints import Checkpoint
from mongoshop.models.common import Document


class AsyncCheckpointRepository(AsyncRepository[Checkpoint]):
    collection_name = "checkpoints"
    model = Checkpoint

    async def load(self, name: str) -> Checkpoint | None:
        return await self.find_one({"_id": name})

    async def save(self, name: str, token: Mapping[str, Any], at: datetime) -> None:
        update: Document = {"$set": {"resume_token": dict(token), "updated_at": at}}
        await self.collection.update_one({"_id": name}, update, upsert=True)
