"""Access tokens: stored only as a digest, with an expiry checked on every use."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mongoshop.models.common import PyObjectId


class TokenInDB(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    digest: str = Field(alias="_id")
    user_id: PyObjectId
    created_at: datetime
    expires_at: datetime


class IssuedToken(BaseModel):
    """The login answer; the only time the token itself is ever seen."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
