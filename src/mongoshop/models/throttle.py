"""Failed sign-in attempts, kept for the throttling window only."""

from __future__ import annotations

from datetime import datetime

from mongoshop.models.common import StoredModel


class LoginAttempt(StoredModel):
    """One sign-in attempt under one key (an e-mail or a client address, both as HMACs).

    An attempt is recorded before the password is checked and removed if it
    succeeds, so what remains are failures. `expires_at` lets the TTL monitor
    remove it once it no longer counts.
    """

    key: str
    at: datetime
    expires_at: datetime
