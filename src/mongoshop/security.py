"""Passwords and access tokens. No I/O here, so both faces share it.

Passwords are hashed with argon2 (pwdlib's recommended parameters). Access
tokens are random; only an HMAC of each is stored, so a leaked database cannot
be replayed as tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from pwdlib import PasswordHash
from pwdlib.exceptions import PwdlibError
from pwdlib.hashers.argon2 import Argon2Hasher

TOKEN_BYTES = 32


class PasswordHasher:
    """argon2 hashing, with a dummy hash to keep "unknown e-mail" as slow as "wrong password"."""

    def __init__(self, hasher: Argon2Hasher | None = None) -> None:
        """`hasher` sets the argon2 cost (tests use a cheap one); default: pwdlib's recommended."""
        self._hasher = PasswordHash((hasher,)) if hasher else PasswordHash.recommended()
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password: str, password_hash: str | None) -> bool:
        """Constant-time check; with no hash, spend the same time and fail."""
        if password_hash is None or not self._hasher.hashers[0].identify(password_hash):
            # No account, or a corrupt stored hash: same work, same answer.
            self._hasher.verify(password, self._dummy)
            return False
        try:
            return self._hasher.verify(password, password_hash)
        except (ValueError, PwdlibError):
            return False


def new_token() -> str:
    """A bearer token with 256 bits of randomness."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str, secret: str) -> str:
    """What is stored and looked up instead of the token itself."""
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
