"""Passwords and access tokens. No I/O here, so both faces share it.

Passwords are hashed with argon2 (pwdlib's recommended parameters). Access
tokens are random; only an HMAC of each is stored, so a leaked database cannot
be replayed as tokens.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from pwdlib import PasswordHash
from pwdlib.exceptions import PwdlibError
from pwdlib.hashers.argon2 import Argon2Hasher

from mongoshop import deadlines
from mongoshop.errors import Busy

TOKEN_BYTES = 32
R = TypeVar("R")

HASH_WAIT_SECONDS = 5.0
"""How long a hash or a check may wait for a free slot (less when the request's deadline
is nearer) before it is refused."""


class PasswordHasher:
    """argon2 hashing, with a dummy hash to keep "unknown e-mail" as slow as "wrong password".

    argon2 is a bounded resource: each hash or check holds one of `slots` (the CPUs by
    default) while it runs (and its 64 MiB), at most `max_waiting` more wait for one,
    each up to `wait_seconds` or the request's deadline; past that the caller is
    refused with `Busy` (503). A flood of password requests then costs a queue, not
    the machine's memory and every other request's CPU.
    """

    def __init__(
        self,
        hasher: Argon2Hasher | None = None,
        *,
        slots: int | None = None,
        max_waiting: int | None = None,
        wait_seconds: float = HASH_WAIT_SECONDS,
    ) -> None:
        """`hasher` sets the argon2 cost (tests use a cheap one); default: pwdlib's recommended."""
        self._hasher = PasswordHash((hasher,)) if hasher else PasswordHash.recommended()
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
        self.slots = slots or os.cpu_count() or 1
        self.max_waiting = self.slots * 16 if max_waiting is None else max_waiting
        self.wait_seconds = wait_seconds
        self._free = threading.BoundedSemaphore(self.slots)
        self._lock = threading.Lock()
        self._waiting = 0
        self._admitted = 0
        self._executor: ThreadPoolExecutor | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The async face's threads for argon2: one per admitted call (`admit`), so a call
        waits for a slot in `_slot` (bounded, then `Busy`), never in a shared pool's queue
        (the event loop's default pool also resolves webhook hosts)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.slots + self.max_waiting, thread_name_prefix="argon2"
            )
        return self._executor

    def admit(self) -> None:
        """Count one call into `executor`; `Busy` at once when every slot is taken and
        `max_waiting` calls already wait (the async face calls this on the event loop)."""
        with self._lock:
            if self._admitted >= self.slots + self.max_waiting:
                raise Busy("too many passwords being checked at once; try again")
            self._admitted += 1

    def run_admitted(self, func: Callable[..., R], *args: object) -> R:
        """Run `func` in an admitted call's thread; the place is given back when it ends."""
        try:
            return func(*args)
        finally:
            with self._lock:
                self._admitted -= 1

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        if not self._free.acquire(blocking=False):  # a free slot: no wait, not a waiter
            self._wait_for_slot()
        try:
            yield
        finally:
            self._free.release()

    def _wait_for_slot(self) -> None:
        with self._lock:
            if self._waiting >= self.max_waiting:
                raise Busy("too many passwords being checked at once; try again")
            self._waiting += 1
        left = deadlines.remaining()
        wait = self.wait_seconds if left is None else max(min(self.wait_seconds, left), 0.0)
        try:
            acquired = self._free.acquire(timeout=wait)
        finally:
            with self._lock:
                self._waiting -= 1
        if not acquired:
            raise Busy("too many passwords being checked at once; try again")

    def hash(self, password: str) -> str:
        with self._slot():
            return self._hasher.hash(password)

    def verify(self, password: str, password_hash: str | None) -> bool:
        """Constant-time check; with no hash, spend the same time and fail."""
        with self._slot():
            if password_hash is None or not self._hasher.hashers[0].identify(password_hash):
                # No account, or a corrupt stored hash: same work, same answer.
                self._hasher.verify(password, self._dummy)
                return False
            try:
                return self._hasher.verify(password, password_hash)
            except (ValueError, PwdlibError):
                return False


def client_network(client: str) -> str:
    """What a client's throttle is keyed on: its IPv4 address, or its IPv6 /64.

    One IPv6 host usually holds a whole /64 (2^64 addresses, one per request if it
    likes): keyed by address, it would have as many buckets as it wants.
    """
    try:
        address = ipaddress.ip_address(client.split("%", 1)[0])
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


def new_token() -> str:
    """A bearer token with 256 bits of randomness."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str, secret: str) -> str:
    """What is stored and looked up instead of the token itself."""
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
