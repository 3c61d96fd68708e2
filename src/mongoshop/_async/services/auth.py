"""Sign-in, bearer tokens and sign-out."""

from __future__ import annotations

import logging
from datetime import timedelta

from mongoshop._async.compat import verify_password
from mongoshop._async.repositories.tokens import AsyncTokenRepository
from mongoshop._async.repositories.users import AsyncUserRepository
from mongoshop._async.services.caching import read_through
from mongoshop._async.services.throttle import AsyncLoginThrottle
from mongoshop.cache import ReadCache
from mongoshop.clock import Clock, utcnow
from mongoshop.errors import AccountDisabled, AuthenticationFailed
from mongoshop.models.tokens import IssuedToken, TokenInDB
from mongoshop.models.users import UserInDB
from mongoshop.security import PasswordHasher, new_token, token_digest

logger = logging.getLogger(__name__)

INVALID_CREDENTIALS = "invalid e-mail or password, or an address not confirmed yet"


class AsyncAuthService:
    def __init__(
        self,
        users: AsyncUserRepository,
        tokens: AsyncTokenRepository,
        hasher: PasswordHasher,
        *,
        token_secret: str,
        token_ttl: timedelta,
        token_cache: ReadCache[TokenInDB] | None = None,
        user_cache: ReadCache[UserInDB] | None = None,
        throttle: AsyncLoginThrottle | None = None,
        clock: Clock = utcnow,
    ) -> None:
        """The caches (API only) spare two database round trips per authenticated request.

        They must be evicted by change streams on `tokens` and `users` (as the
        API does), so a revoked token or a disabled account stops working
        within the invalidation bound, everywhere.
        """
        self.clock = clock
        self.users = users
        self.tokens = tokens
        self.hasher = hasher
        self._secret = token_secret
        self._ttl = token_ttl
        self.token_cache = token_cache
        self.user_cache = user_cache
        self.throttle = throttle

    async def authenticate(self, email: str, password: str) -> UserInDB:
        """The user with these credentials, counted as a login.

        An unknown e-mail, a wrong password and an address nobody has confirmed yet
        take the same time and give the same `AuthenticationFailed`: an unconfirmed
        account cannot sign in (whoever registered it may not own the address, and a
        different answer would tell a free address from a taken one right after the
        registration's uniform 202). A disabled account with the right password is
        `AccountDisabled`: the owner learns why, nobody else does.
        """
        user = await self.users.find_by_email(email)
        password_hash = None if user is None else user.password_hash
        valid = await verify_password(self.hasher, password, password_hash)
        if user is None or password_hash is None or not valid or not user.email_verified:
            raise AuthenticationFailed(INVALID_CREDENTIALS)
        if not user.is_active:
            raise AccountDisabled(f"this account is {user.status.value}")
        logged_in = await self.users.record_login(user.id, self.clock(), password_hash)
        if logged_in is not None:
            return logged_in
        # Changed between the check and the update: disabled, or its password changed.
        current = await self.users.find_by_id(user.id)
        if current is not None and not current.is_active:
            raise AccountDisabled("this account is no longer active")
        raise AuthenticationFailed(INVALID_CREDENTIALS)

    async def login(self, email: str, password: str, client: str | None = None) -> IssuedToken:
        """A new bearer token; failures are throttled per e-mail and per `client` address.

        The token is dated from before the account was read, not from its issue: a
        password change or a suspension that lands while this login is under way
        (after the read) revokes it like every earlier token.
        """
        read_at = self.clock()
        if self.throttle is None:
            user = await self.authenticate(email, password)
        else:
            async with self.throttle.attempt(email, client):
                user = await self.authenticate(email, password)
        token = new_token()
        stored = await self.tokens.issue(
            token_digest(token, self._secret), user.id, read_at, self.clock() + self._ttl
        )
        logger.info("user signed in", extra={"user_id": str(user.id)})
        return IssuedToken(access_token=token, expires_at=stored.expires_at)

    async def user_for_token(self, token: str) -> UserInDB:
        """The active user a bearer token belongs to; anything else is `AuthenticationFailed`."""
        digest = token_digest(token, self._secret)
        now = self.clock()

        async def valid_token() -> TokenInDB:
            found = await self.tokens.find_valid(digest, now)
            if found is None:
                raise AuthenticationFailed("invalid or expired token")
            return found

        stored = await read_through(self.token_cache, digest, valid_token)
        if stored.expires_at <= now:  # checked on every use, cached or not
            raise AuthenticationFailed("invalid or expired token")

        async def its_user() -> UserInDB:
            found = await self.users.find_by_id(stored.user_id)
            if found is None:
                raise AuthenticationFailed("invalid or expired token")
            return found

        user = await read_through(self.user_cache, stored.user_id, its_user)
        if not user.is_active:
            raise AuthenticationFailed("invalid or expired token")
        if user.sessions_revoked_at is not None and stored.created_at <= user.sessions_revoked_at:
            raise AuthenticationFailed("invalid or expired token")
        return user

    async def logout(self, token: str) -> None:
        """Revoke the token; revoking an unknown or expired token is not an error."""
        digest = token_digest(token, self._secret)
        await self.tokens.revoke(digest)
        if self.token_cache is not None:
            self.token_cache.invalidate(digest)
