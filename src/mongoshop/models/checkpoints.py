"""Change-stream bookkeeping."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Checkpoint(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    name: str = Field(alias="_id")
    resume_token: dict[str, Any]
    updated_at: datetime
