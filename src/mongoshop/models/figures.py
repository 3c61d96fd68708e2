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
    stale_at: datetime | None = None
    """Set by a change that figures computed before it miss (a day of sales)."""

    @property
    def is_stale(self) -> bool:
        """Whether a change came after the computation began."""
        return self.stale_at is not None and self.stale_at >= self.computed_at
