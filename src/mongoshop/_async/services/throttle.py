"""Sign-in throttling: a bound on failed attempts per e-mail and per client address.

Each attempt claims a place under every limit *before* the password is
checked, in one atomic update per key, so concurrent guesses cannot slip past
the limit while the (deliberately slow) password hash runs, and the first ones
of a burst are still tried. A successful attempt is withdrawn at once; so is one
refused by another key's limit. Refused attempts are never recorded, so they do
not extend the wait: the owner can sign in again once the window has passed,
even while someone keeps trying. Keys are HMACs, so the collection holds
neither addresses nor e-mails.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from bson import ObjectId

from mongoshop._async.repositories.login_attempts import AsyncLoginAttemptRepository
from mongoshop.clock import Clock, utcnow
from mongoshop.errors import Busy, TooManyAttempts
from mongoshop.security import client_network, token_digest


class AsyncLoginThrottle:
    def __init__(
        self,
        attempts: AsyncLoginAttemptRepository,
        *,
        secret: str,
        max_per_email: int,
        max_per_client: int,
        window: timedelta,
        purpose: str = "login",
        clock: Clock = utcnow,
    ) -> None:
        """`purpose` separates the keys of different throttles (sign-in, registration);
        `clock` tells the time the windows are measured with."""
        self.attempts = attempts
        self._secret = secret
        self._window = window
        self._limits = {"email": max_per_email, "client": max_per_client}
        self._purpose = purpose
        self._clock = clock

    def _key(self, kind: str, value: str) -> str:
        return token_digest(f"{self._purpose}-{kind}:{value}", self._secret)

    async def record(self, email: str, client: str | None) -> None:
        """Count one attempt against every limit, success or not; `TooManyAttempts` if over.

        For registrations: each one costs a password hash and may send an e-mail, so
        every attempt counts until it leaves the window.
        """
        await self._claim_all(self._keys(email, client), ObjectId(), self._clock())

    def _keys(self, email: str | None, client: str | None) -> dict[str, str]:
        keys = {} if email is None else {"email": self._key("email", email.lower())}
        if client:
            keys["client"] = self._key("client", client_network(client))
        return keys

    async def _claim_all(self, keys: dict[str, str], attempt: ObjectId, now: datetime) -> None:
        """A place under every key's limit, or none at all (`TooManyAttempts`)."""
        claimed: list[str] = []
        try:
            for kind, key in keys.items():
                await self._claim(key, attempt, self._limits[kind], now)
                claimed.append(key)
        except TooManyAttempts:
            for key in claimed:
                await self.attempts.withdraw(key, attempt)
            raise

    @asynccontextmanager
    async def attempt(self, email: str | None, client: str | None) -> AsyncIterator[None]:
        """Guard one sign-in: `TooManyAttempts` if over a limit, else run the block.

        If the block raises (a failed sign-in), the attempt stays counted, unless it
        is `Busy` (the server could not check the password now: not a guess); if
        it completes, the e-mail's failures are forgotten. Without an e-mail (a
        verification code names none), only the client's limit applies.
        """
        attempt = ObjectId()
        keys = self._keys(email, client)
        await self._claim_all(keys, attempt, self._clock())
        try:
            yield
        except Busy:
            # The server's trouble (argon2's queue is full), not a guess: not counted, or
            # a flood of others' requests would lock this account out.
            for key in keys.values():
                await self.attempts.withdraw(key, attempt)
            raise
        for key in keys.values():
            await self.attempts.withdraw(key, attempt)
        if "email" in keys:
            await self.attempts.clear(keys["email"])

    async def _claim(self, key: str, attempt: ObjectId, limit: int, now: datetime) -> None:
        state = await self.attempts.claim(
            key,
            attempt,
            at=now,
            since=now - self._window,
            limit=limit,
            expires_at=now + self._window,
        )
        if any(earlier.id == attempt for earlier in state.attempts):
            return
        # `limit` earlier failures fill the window; a place frees up when the
        # oldest of them leaves it.
        free_at = min(earlier.at for earlier in state.attempts) + self._window
        retry_after = max(1, math.ceil((free_at - now).total_seconds()))
        what = "failed sign-ins" if self._purpose == "login" else f"{self._purpose} attempts"
        raise TooManyAttempts(f"too many {what}; try again in {retry_after} seconds", retry_after)
