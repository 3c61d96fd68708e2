"""Sign-in throttling: a bound on failed attempts per e-mail and per client address.

Each attempt is recorded *before* the password is checked, then counted, so
concurrent guesses cannot slip past the limit while the (deliberately slow)
password hash runs; a successful attempt is withdrawn at once. A refused
attempt is withdrawn too: refusals do not extend the wait, so the owner can
sign in again once the window has passed, even while someone keeps trying.
Keys are HMACs, so the collection holds neither addresses nor e-mails.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from mongoshop._async.repositories.login_attempts import AsyncLoginAttemptRepository
from mongoshop.clock import utcnow
from mongoshop.errors import TooManyAttempts
from mongoshop.security import token_digest


class AsyncLoginThrottle:
    def __init__(
        self,
        attempts: AsyncLoginAttemptRepository,
        *,
        secret: str,
        max_per_email: int,
        max_per_client: int,
        window: timedelta,
    ) -> None:
        self.attempts = attempts
        self._secret = secret
        self._window = window
        self._limits = {"email": max_per_email, "client": max_per_client}

    def _key(self, kind: str, value: str) -> str:
        return token_digest(f"login-{kind}:{value}", self._secret)

    @asynccontextmanager
    async def attempt(self, email: str, client: str | None) -> AsyncIterator[None]:
        """Guard one sign-in: `TooManyAttempts` if over a limit, else run the block.

        If the block raises (a failed sign-in), the attempt stays counted; if
        it completes, the e-mail's failures are forgotten.
        """
        now = utcnow()
        keys = {"email": self._key("email", email)}
        if client:
            keys["client"] = self._key("client", client)
        ids = await self.attempts.record(list(keys.values()), now, now + self._window)
        try:
            for kind, key in keys.items():
                await self._refuse_if_over(key, self._limits[kind], now)
        except TooManyAttempts:
            await self.attempts.withdraw(ids)
            raise
        yield
        await self.attempts.withdraw(ids)
        await self.attempts.clear(keys["email"])

    async def _refuse_if_over(self, key: str, limit: int, now: datetime) -> None:
        # This attempt is among those counted: more than `limit` means it is one too many.
        newest = await self.attempts.newest_since(key, now - self._window, limit + 1)
        if len(newest) <= limit:
            return
        # Besides this one, `limit` earlier failures count; allowed again once the
        # oldest of them leaves the window.
        free_at = newest[limit] + self._window
        retry_after = max(1, math.ceil((free_at - now).total_seconds()))
        raise TooManyAttempts(
            f"too many failed sign-ins; try again in {retry_after} seconds", retry_after
        )
