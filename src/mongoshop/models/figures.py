"""Dashboard figures kept in the database: computed now and then, read by `_id`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class StoredFigures(BaseModel):
    """One dashboard's figures, as last computed (the `figures` collection)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    name: str = Field(alias="_id")
    value: dict[str, Any]
    computed_at: datetime
