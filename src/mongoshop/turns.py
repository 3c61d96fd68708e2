"""Per-key locks that exist only while used: the bookkeeping both faces share.

The async face's locks are `asyncio.Lock`, the sync face's `threading.Lock`; how
a lock is waited for differs, which keys exist and when one is forgotten does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

LockT = TypeVar("LockT")


class LockTable(Generic[LockT]):
    """One lock per key, counted by its users (holders and waiters); a key's lock is
    dropped with its last user, so the table holds no more than what is in use."""

    def __init__(self, make: Callable[[], LockT]) -> None:
        self._make = make
        self._locks: dict[str, tuple[LockT, int]] = {}

    def join(self, keys: Sequence[str]) -> list[LockT]:
        """Count the caller among each key's users; the keys' locks in sorted key order
        (the order every caller takes them in, so two never wait for each other crosswise).
        `keys` must already be unique and sorted."""
        for key in keys:
            lock, users = self._locks.get(key, (None, 0))
            self._locks[key] = (self._make() if lock is None else lock, users + 1)
        return [self._locks[key][0] for key in keys]

    def leave(self, keys: Sequence[str]) -> None:
        """The caller no longer holds nor waits for these keys' locks."""
        for key in keys:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        """How many keys are held or waited for."""
        return len(self._locks)
