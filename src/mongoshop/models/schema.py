"""What mongoshop records about the database's shape: the indexes it owns."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IndexOwnership(BaseModel):
    """The indexes mongoshop created, by collection: the only ones it may drop or rebuild."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str = Field(alias="_id")
    owned: dict[str, list[str]] = Field(default_factory=dict)
