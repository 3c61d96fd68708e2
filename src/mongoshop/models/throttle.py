"""Failed sign-in attempts, kept for the throttling window only."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from mongoshop.models.common import PyObjectId


class Attempt(BaseModel):
    """One sign-in attempt that was let through to the password check."""

    model_config = ConfigDict(extra="ignore")

    id: PyObjectId
    at: datetime


class LoginAttempts(BaseModel):
    """The recent attempts under one key (an e-mail or a client address, as an HMAC).

    One document per key, so that claiming a place under the limit is a single
    atomic update: concurrent guesses are ranked by the server, never by a race
    between an insert and a count. An attempt is removed again if it succeeds or
    is refused by another key's limit, so what remains are failures.
    `expires_at` lets the TTL monitor drop the document once none of it counts.
    """

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    key: str = Field(alias="_id")
    attempts: list[Attempt] = []
    expires_at: datetime
